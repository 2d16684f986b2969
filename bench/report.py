"""The results table, printed and written as JSON and as a README-ready Markdown section."""

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.figures import Figure

HEADER = ("Scenario", "Figure", "x limit", "p50 ms", "p99 ms", "max ms", "load-gen CPU",
          "Target", "Result")  # fmt: skip
COMMAND = ".venv/bin/python -m bench.run"


def _num(value: float | None, pattern: str) -> str:
    return "" if value is None else pattern.format(value)


def _value(figure: Figure) -> str:
    if figure.value is None:
        return "n/a"
    if figure.unit == "candles/s":
        return f"{figure.value:,.0f}/s"
    return f"{figure.value:,.0f} {figure.unit}"


def _ratio(ratio: float | None) -> str:
    if ratio is None:
        return ""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


def _cells(figure: Figure) -> list[str]:
    return [figure.scenario, _value(figure), _ratio(figure.ratio),
            _num(figure.p50_ms, "{:.1f}"), _num(figure.p99_ms, "{:.1f}"),
            _num(figure.max_ms, "{:.0f}"), _num(figure.client_cpu, "{:.1%}"),
            figure.target, figure.verdict]  # fmt: skip


def markdown_table(figures: list[Figure]) -> str:
    """The figures as one Markdown table."""
    rows = [list(HEADER), ["---"] * len(HEADER), *map(_cells, figures)]
    return "\n".join("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
                     for row in rows)  # fmt: skip


def catalog_table(catalog: dict[str, Any]) -> str:
    """Catalog rows and sizes before and after the single-candle requests."""
    lines = ["| catalog | rows before → after | size before → after | inserted | updated | "
             "deleted |", "|---|---|---|---|---|---|"]  # fmt: skip
    for name, entry in catalog.items():
        b, a, d = entry["before"], entry["after"], entry["delta"]
        lines.append(
            f"| {name} | {b['rows']:,} → {a['rows']:,} | {b['size_bytes'] / 1024:,.0f} → "
            f"{a['size_bytes'] / 1024:,.0f} KiB | {d['n_tup_ins']:,} | {d['n_tup_upd']:,} | "
            f"{d['n_tup_del']:,} |"
        )
    return "\n".join(lines)


def markdown(results: dict[str, Any], figures: list[Figure]) -> str:
    """The README-ready section: command, machine, table, catalogs, notes."""
    parts = [
        *_intro(results["duration_s"] / 60), "", _machine(results["machine"], figures), "",
        markdown_table(figures), "",
        "System catalogs over the HTTP bulk section and over the single-candle section:", "",
        catalog_table(results["catalog"]["bulk"]), "", catalog_table(results["catalog"]["single"]),
        "", *[f"- {note}" for note in results["notes"]],
    ]  # fmt: skip
    return "\n".join(parts) + "\n"


def _intro(minutes: float) -> list[str]:
    return [
        "## Benchmark", "", "```sh",
        f"{COMMAND}   # about {_minutes(minutes)}; --quick: a smoke run", "```", "",
        "It starts its own PostgreSQL and candlesvc under gunicorn as deployed (schema from",
        "`sql/`, a real API key, JSON logs on), measures every way in on the same database,",
        "prints this table and writes `bench/results/latest.json` and `latest.md`; nothing is",
        "left running. `x limit` is a rate divided by the fastest raw `COPY` of the same rows",
        "into the same empty, indexed table from one connection.",
    ]  # fmt: skip


def _minutes(minutes: float) -> str:
    return "1 minute" if round(minutes) <= 1 else f"{minutes:.0f} minutes"


def _machine(m: dict[str, str], figures: list[Figure]) -> str:
    return (
        f"Latest run: {m['date']}, {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, {m['os']}, "
        f"PostgreSQL {m['postgresql']}, Python {m['python']}, gunicorn {m['gunicorn']}; "
        f"load average (1/5/15 min) {m['load_average_start']} at the start, "
        f"{m['load_average']} at the end. {_verdicts(figures)}"
    )


def _verdicts(figures: list[Figure]) -> str:
    judged = [f for f in figures if f.verdict]
    missed = [f.scenario for f in judged if f.verdict == "MISS"]
    text = f"Targets met: {len(judged) - len(missed)} of {len(judged)}."
    return text + (f" Missed: {'; '.join(missed)}." if missed else "")


def write_results(folder: Path, results: dict[str, Any], figures: list[Figure]) -> str:
    """Write latest.json and latest.md into `folder`; return the Markdown."""
    folder.mkdir(parents=True, exist_ok=True)
    data = {**results, "figures": [asdict(f) for f in figures]}
    (folder / "latest.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    text = markdown(results, figures)
    (folder / "latest.md").write_text(text)
    return text
