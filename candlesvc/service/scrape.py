"""GET /metrics: the Prometheus text, to a scraper that presents METRICS_TOKEN as a bearer token.

Without METRICS_TOKEN the route does not exist (404). The age of each series' newest bar
is read from the database at each scrape, within the service's timeouts; if that read
fails, the scrape answers without it and the failure is counted with the database errors.
"""

from datetime import UTC, datetime

from flask import Blueprint, Flask, Response, request
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from candlesvc.service.context import database, settings
from candlesvc.service.keys import key_matches
from candlesvc.service.metrics import metrics
from candlesvc.service.problems import RejectedError, problem
from candlesvc.service.settings import Settings
from candlesvc.store import series

bp = Blueprint("metrics", __name__)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="metrics"'}


def install(app: Flask, current: Settings) -> None:
    """Serve /metrics only when a token protects it."""
    if current.metrics_token:
        app.register_blueprint(bp)


@bp.get("/metrics")
def scrape() -> Response:
    """Every worker's figures summed, and the feed's age per stored series."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    token = settings().metrics_token or ""
    if not (scheme.lower() == "bearer" and key_matches(presented.strip(), (token,))):
        raise RejectedError(problem(401, "missing or invalid bearer token", _CHALLENGE))
    families = [*_feed_age(), *metrics().source.collect()]
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(_Collected(families)), 200, content_type=content_type)


def _feed_age() -> list[Metric]:
    """Seconds from each stored series' newest bar to now; nothing if the database fails."""
    try:
        with database() as conn:  # a failure is counted and logged there
            found = series.catalogue(conn)
    except RejectedError:
        return []
    now = datetime.now(UTC)
    age = GaugeMetricFamily(
        "candlesvc_feed_age_seconds",
        "Seconds since the time of each stored series' newest bar, read at this scrape.",
        labels=["symbol", "timeframe"],
    )
    for s in found:
        age.add_metric([s.symbol, s.timeframe], (now - s.last).total_seconds())
    return [age]


class _Collected:
    """Metrics gathered already, in the shape the encoders read."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        """The gathered metrics."""
        return self.families
