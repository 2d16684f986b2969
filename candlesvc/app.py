"""The application factory."""

import os
from collections.abc import Mapping

from flask import Flask
from flask_cors import CORS

from candlesvc import api, auth, readapi, requestlog
from candlesvc.db import make_pool
from candlesvc.logs import configure_logging
from candlesvc.settings import Settings, load_settings


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the service from the environment, with `overrides` taking precedence."""
    settings = load_settings({**os.environ, **(overrides or {})})
    configure_logging(settings.log_level)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["candlesvc.settings"] = settings
    pool = make_pool(settings)
    pool.open(wait=False)
    app.extensions["candlesvc.pool"] = pool
    _enable_cors(app, settings)
    requestlog.install(app)
    auth.install(app, settings)  # after the request id is set
    app.register_blueprint(api.bp)
    app.register_blueprint(readapi.bp)
    return app


def _enable_cors(app: Flask, settings: Settings) -> None:
    """Answer browser preflights from the configured origins only."""
    if settings.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": list(settings.cors_origins)}},
            allow_headers=["X-API-KEY", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
            methods=["GET", "POST", "OPTIONS"],
            max_age=600,
        )
