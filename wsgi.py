"""WSGI entry point: `gunicorn -c python:candlesvc.gunicorn_conf wsgi:app`."""

from candlesvc.app import create_app

app = create_app()
