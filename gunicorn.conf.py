"""Read by `gunicorn wsgi:app` in this folder: the service's own settings."""

from candlesvc.gunicorn_conf import *  # noqa: F403
