"""Progress on stderr; the results table; results written as JSON and Markdown."""

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.figures import Figure

HEADER = (
    "Scenario",
    "Figure",
    "x limit",
    "p50 ms",
    "p99 ms",
    "max ms",
    "load-gen CPU",
    "Target",
    "Result",
)
_BEGAN = time.monotonic()


def say(message: str) -> None:
    """One line on stderr per finished step, with the time since the run began."""
    print(f"[{time.monotonic() - _BEGAN:5.0f} s] {message}", file=sys.stderr, flush=True)


def markdown_table(figures: list[Figure]) -> str:
    """The figures as one Markdown table."""
    rows = [list(HEADER), ["---"] * len(HEADER), *map(_cells, figures)]
    return "\n".join(
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows
    )


def markdown(results: dict[str, Any], figures: list[Figure]) -> str:
    """latest.md: the command and its duration, the machine, the tables and the notes."""
    parts = [
        *intro("Benchmark", "bench.run", results["duration_s"], "--quick: a smoke run"),
        machine_line(results["machine"], _verdicts(figures)),
        "",
        markdown_table(figures),
        "",
        "System catalogs over the HTTP bulk section and over the single-candle section:",
        "",
        _catalog_table(results["catalog"]["bulk"]),
        "",
        _catalog_table(results["catalog"]["single"]),
        "",
        *[f"- {note}" for note in results["notes"]],
    ]
    return "\n".join(parts) + "\n"


def intro(title: str, module: str, seconds: float, options: str) -> list[str]:
    """A results page's heading, its command and how long it took, and where the method is."""
    minutes = "1 minute" if seconds < 90 else f"{seconds / 60:.0f} minutes"
    return [
        f"## {title}",
        "",
        "```sh",
        f".venv/bin/python -m {module}   # about {minutes}; {options}",
        "```",
        "",
        "What it measures and how: bench/README.md.",
        "",
    ]


def machine_line(m: dict[str, str], verdict: str) -> str:
    """The machine, the versions, the load average around the run, and its verdict."""
    return (
        f"Latest run: {m['date']}, {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, {m['os']}, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}, gunicorn {m['gunicorn']}; "
        f"load average (1/5/15 min) {m['load_average_start']} at the start, "
        f"{m['load_average']} at the end. {verdict}"
    )


def write_results(folder: Path, name: str, results: dict[str, Any], markdown: str) -> None:
    """Write `name`.json and `name`.md into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    (folder / f"{name}.md").write_text(markdown)


def notes(results: dict[str, Any], figures: list[Figure]) -> list[str]:
    """This run's counts behind the figures: limit runs, rounds, load generator, service."""
    s, runs, log = results["settings"], results["limit_runs"], results["service_log"]
    by_key = {f.key: f for f in figures}
    rounds = "; ".join(
        f"{by_key[k].scenario}: {by_key[k].note}" for k in ("import_new", "import_again")
    )
    found = [
        f"Limit, raw COPY of {s['rows']:,} rows: pre-encoded text {_rates(runs['text'])} (two "
        "runs before the HTTP scenarios, one after); psycopg `write_row` of typed tuples "
        f"{_rates(runs['typed'])}.",
        f"Backfill, {s['backfill_rounds']} round(s) of \\copy, import, import again: {rounds}.",
        "Load generator CPU share (CPU time / (wall x cores)): at most "
        f"{max((f.client_cpu or 0.0) for f in figures):.1%} in this run.",
        f"gunicorn: {results['machine']['gunicorn']}, configured by "
        f"candlesvc/gunicorn_conf.py. {_connections(figures)}",
        f"The service wrote {log['request_log_lines']:,} JSON request-log lines for "
        f"{log['requests_sent']:,} requests sent (plus readiness probes).",
        f"Catalogs: {by_key['catalog'].scenario.split(', ')[-1]} (warm-up, sequential, 16 "
        f"clients, then {s['churn_clients']}-client churn; the aim is {s['churn']:,}, cut short "
        f"only by the {s['churn_budget_s']:.0f} s churn budget). The bulk section's counts "
        "include the benchmark's own TRUNCATEs between scenarios.",
    ]
    if s["quick"]:
        found.append("This was a --quick smoke run: its figures are not meaningful.")
    return found


def _rates(rates: list[float]) -> str:
    return ", ".join(f"{rate:,.0f}" for rate in rates) + " rows/s"


def _connections(figures: list[Figure]) -> str:
    """Whether the server kept connections alive, from the clients' own counts."""
    counted = [f for f in figures if f.requests and f.connections]
    requests = sum(f.requests or 0 for f in counted)
    opened = sum(f.connections or 0 for f in counted)
    if opened >= requests:
        return "It closed every connection after one response: latencies include a connect."
    return f"Keep-alive held: {requests:,} requests over {opened:,} connections."


def _cells(figure: Figure) -> list[str]:
    return [
        figure.scenario,
        _value(figure),
        _ratio(figure.ratio),
        _num(figure.p50_ms, "{:.1f}"),
        _num(figure.p99_ms, "{:.1f}"),
        _num(figure.max_ms, "{:.0f}"),
        _num(figure.client_cpu, "{:.1%}"),
        figure.target,
        figure.verdict,
    ]


def _value(figure: Figure) -> str:
    if figure.value is None:
        return "n/a"
    if figure.unit == "candles/s":
        return f"{figure.value:,.0f}/s"
    if figure.unit == "ms":
        return f"{figure.value:,.1f} ms"
    return f"{figure.value:,.0f} {figure.unit}"


def _num(value: float | None, pattern: str) -> str:
    return "" if value is None else pattern.format(value)


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


def _verdicts(figures: list[Figure]) -> str:
    judged = [f for f in figures if f.verdict]
    missed = [f.scenario for f in judged if f.verdict == "MISS"]
    text = f"Targets met: {len(judged) - len(missed)} of {len(judged)}."
    return text + (f" Missed: {'; '.join(missed)}." if missed else "")


def _catalog_table(catalog: dict[str, Any]) -> str:
    """Catalog rows and sizes before and after a section, and its tuple counters."""
    lines = [
        "| catalog | rows before → after | size before → after | inserted | updated | deleted |",
        "|---|---|---|---|---|---|",
    ]
    for name, entry in catalog.items():
        b, a, d = entry["before"], entry["after"], entry["delta"]
        lines.append(
            f"| {name} | {b['rows']:,} → {a['rows']:,} | {b['size_bytes'] / 1024:,.0f} → "
            f"{a['size_bytes'] / 1024:,.0f} KiB | {d['n_tup_ins']:,} | {d['n_tup_upd']:,} | "
            f"{d['n_tup_del']:,} |"
        )
    return "\n".join(lines)
