"""How big each part of the benchmark is: the default run and the --quick smoke run."""

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Config:
    """Sizes of the default run, chosen to finish well inside 10 minutes on 2 cores."""

    rows: int = 160_000  # rows of the COPY limit
    batches: tuple[tuple[int, int], ...] = ((100, 16_000), (1_000, 96_000), (10_000, 160_000))
    clients: tuple[int, ...] = (1, 4, 16)
    sequential: int = 2_000  # single-candle requests, one client
    per_client: int = 200  # single-candle requests per client, 16 clients
    churn: int = 100_000  # single-candle requests in all before the catalog is measured again
    churn_clients: int = 4
    churn_budget_s: float = 240.0  # the churn stops early rather than overrun this
    backfill_rows: int = 1_000_000
    backfill_rounds: int = 5  # rounds of \copy, import, import again: the speed drifts
    rss_rows: int = 5_000_000
    workers: int | None = None  # gunicorn WEB_CONCURRENCY; None: as deployed


QUICK = replace(
    Config(),
    rows=16_000,
    batches=((100, 3_200), (1_000, 16_000), (10_000, 16_000)),
    sequential=200,
    per_client=20,
    churn=2_000,
    churn_budget_s=30.0,
    backfill_rows=20_000,
    backfill_rounds=1,
    rss_rows=100_000,
)
