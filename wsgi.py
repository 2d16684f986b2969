"""`gunicorn wsgi:app` at the repository's root; gunicorn.conf.py beside it configures it."""

from candlesvc.wsgi import app

__all__ = ["app"]
