# candlesvc: slim, non-root image running gunicorn.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BIND=0.0.0.0:8000

RUN useradd --system --uid 10001 --no-create-home --home-dir /app candlesvc
WORKDIR /app
COPY pyproject.toml README.md wsgi.py ./
COPY candlesvc ./candlesvc
COPY cli ./cli
COPY sql ./sql
RUN pip install -e .

USER candlesvc
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2)"]
CMD ["gunicorn", "-c", "python:candlesvc.gunicorn_conf", "wsgi:app"]
