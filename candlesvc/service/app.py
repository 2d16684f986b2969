"""The application factory."""

import os
from collections.abc import Mapping

from flask import Flask
from flask_cors import CORS
from psycopg_pool import ConnectionPool

from candlesvc.service import auth, ingest, metrics, page, reads, requestlog, scrape
from candlesvc.service.logs import configure_logging
from candlesvc.service.settings import Settings, load_settings
from candlesvc.store.pool import make_pool


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the service from the environment, with `overrides` taking precedence."""
    settings = load_settings({**os.environ, **(overrides or {})})
    configure_logging(settings.log_level)
    app = Flask(__name__, static_folder=None)  # the page's files: service/page.py
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.extensions["candlesvc.settings"] = settings
    pool = make_pool(
        settings.database_url,
        settings.pool_min_size,
        settings.pool_max_size,
        settings.pool_timeout,
        settings.prepared_statements,
    )
    pool.open(wait=False)
    app.extensions["candlesvc.pool"] = pool
    _enable_cors(app, settings)
    requestlog.install(app)
    metrics.install(app)
    auth.install(app, settings)  # after the request id is set
    app.register_blueprint(ingest.bp)
    app.register_blueprint(reads.bp)
    app.register_blueprint(page.bp)
    scrape.install(app, settings)
    return app


def close(app: Flask) -> None:
    """Close the app's connection pool, ending its database sessions cleanly."""
    pool: ConnectionPool = app.extensions["candlesvc.pool"]
    pool.close(timeout=5)


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
