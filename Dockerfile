# candlesvc: gunicorn as an unprivileged user, the package installed (not editable) in a venv.
# The base must be a Debian-like image with Python >= 3.11 and useradd; see docs/docker.md.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH \
    BIND=0.0.0.0:8000

RUN groupadd --gid 10001 candlesvc \
    && useradd --uid 10001 --gid candlesvc --create-home --home-dir /home/candlesvc \
        --shell /usr/sbin/nologin candlesvc \
    && python3 -m venv /opt/venv

COPY pyproject.toml README.md /tmp/src/
COPY candlesvc /tmp/src/candlesvc
COPY cli /tmp/src/cli
COPY sql /tmp/src/sql
RUN pip install /tmp/src && rm -rf /tmp/src

USER candlesvc
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["python", "-m", "candlesvc.service.healthcheck"]
CMD ["gunicorn", "-c", "python:candlesvc.gunicorn_conf", "candlesvc.wsgi:app"]
