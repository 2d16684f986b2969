"""The soak's verdicts, its tables, and bench/results/soak.{json,md}."""

import json
from pathlib import Path
from typing import Any

COMMAND = ".venv/bin/python -m bench.soak"
_EXPECTED = {"201", "503", "connection error"}


def checks(results: dict[str, Any]) -> dict[str, bool]:
    """Every pass/fail condition of the soak."""
    statuses, batches, table = results["requests"]["statuses"], results["batches"], results["table"]
    return {
        "no 500 or other status": set(statuses) <= _EXPECTED and not batches["crashed"],
        "rows stored = rows acknowledged": table["rows_stored"] == table["rows_expected"],
        "nothing lost, nothing extra": table["rows_lost"] == table["rows_extra"] == 0,
        "checksum equal": table["checksum_stored"] == table["checksum_expected"],
        "re-sends added nothing": batches["resend_rows_added"] == 0,
        "every batch acknowledged in the end": batches["new_given_up"] == 0,
        "database restarted mid-run": bool(results["restart"]),
        "worker memory flat": results["memory"]["flat"],
    }


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def check_table(results: dict[str, Any]) -> str:
    """The checks and their figures as one Markdown table."""
    req, bat, tab, mem = (results[k] for k in ("requests", "batches", "table", "memory"))
    s = req["statuses"]
    other = sum(n for status, n in s.items() if status not in _EXPECTED)
    ok = results["checks"]
    rows = [
        ("Requests", f"{req['requests']:,}: 201 {s.get('201', 0):,}, 503 {s.get('503', 0):,}, "
         f"other {other}, connection errors {s.get('connection error', 0)}",
         _verdict(ok["no 500 or other status"])),
        ("Rows acknowledged / stored", f"{tab['rows_expected']:,} / {tab['rows_stored']:,} "
         f"(lost {tab['rows_lost']}, extra {tab['rows_extra']})",
         _verdict(ok["rows stored = rows acknowledged"] and ok["nothing lost, nothing extra"])),
        ("Checksum (md5) expected / stored", f"{tab['checksum_expected'][:12]} / "
         f"{tab['checksum_stored'][:12]}", _verdict(ok["checksum equal"])),
        ("Batches", _batches(bat), _verdict(ok["re-sends added nothing"]
                                            and ok["every batch acknowledged in the end"])),
        ("Database restart", _restart(results["restart"], req), _verdict(bool(results["restart"]))),
        ("Latency", f"p50 {req['p50_ms']:,.1f} ms, p99 {req['p99_ms']:,.1f} ms, "
         f"max {req['max_ms']:,} ms (max of a 201: {req['max_201_ms']:,} ms)", ""),
        ("Worker RSS (MiB)", _memory(mem), _verdict(ok["worker memory flat"])),
    ]  # fmt: skip
    lines = ["| Check | Figure | Result |", "| --- | --- | --- |"]
    return "\n".join([*lines, *(f"| {a} | {b} | {c} |" for a, b, c in rows)])


def _batches(b: dict[str, Any]) -> str:
    return (f"{b['new_acknowledged']:,} new acknowledged, {b['new_given_up']} given up; "
            f"{b['resends']:,} re-sends added {b['resend_rows_added']} rows; "
            f"{b['stored_before_a_503']} stored before their 503")  # fmt: skip


def _restart(r: dict[str, float], req: dict[str, Any]) -> str:
    if not r:
        return "did not happen"
    window = f"503s answered {req['first_503_s']} to {req['last_503_s']} s" \
        if req["first_503_s"] is not None else "no 503"  # fmt: skip
    quiet = req["longest_without_201_s"]
    return (f"at {r['at_s']:.1f} s: stop {r['stop_s']:.1f} s, start {r['start_s']:.1f} s; "
            f"{window}; longest time without a 201: {quiet[1] - quiet[0]:.1f} s "
            f"({quiet[0]} to {quiet[1]} s)")  # fmt: skip


def _memory(m: dict[str, Any]) -> str:
    parts = [f"{w['start_mib']:.0f} → {w['warm_mib']:.0f} → peak {w['peak_mib']:.0f} → "
             f"{w['end_mib']:.0f}" for w in m["workers"]]  # fmt: skip
    return f"{'; '.join(parts)} (start → warm → peak → end; recycled {m['recycled']})"


def worker_table(memory: dict[str, Any]) -> str:
    """One row per gunicorn worker process seen during the soak."""
    lines = ["| Worker pid | seen (s) | start | after warm-up | peak | end | end ≤ 1.2x warm |",
             "| --- | --- | --- | --- | --- | --- | --- |"]  # fmt: skip
    for w in memory["workers"]:
        lines.append(f"| {w['pid']} | {w['from_s']:.0f} to {w['to_s']:.0f} | {w['start_mib']} | "
                     f"{w['warm_mib']} | {w['peak_mib']} | {w['end_mib']} | "
                     f"{'yes' if w['flat'] else 'NO'} |")  # fmt: skip
    return "\n".join(lines)


def write_results(folder: Path, results: dict[str, Any], markdown: str) -> None:
    """Write soak.json and soak.md into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results, indent=2, ensure_ascii=False)
    (folder / "soak.json").write_text(text + "\n")
    (folder / "soak.md").write_text(markdown)
