"""The WSGI application: `gunicorn -c python:candlesvc.gunicorn_conf candlesvc.wsgi:app`."""

import sys

from candlesvc.service.app import create_app
from candlesvc.service.settings import SettingsError

try:
    app = create_app()
except SettingsError as error:
    print(f"candlesvc: refusing to start: {error}", file=sys.stderr)
    raise SystemExit(3) from None
