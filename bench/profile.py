"""Where a worker's time goes: py-spy on every gunicorn worker while a scenario runs.

`.venv/bin/python -m bench.profile` (needs `pip install py-spy`; not part of the benchmark)
profiles HTTP bulk (batch 1,000, 4 clients) and sequential single-candle POSTs (on-CPU
samples; `--idle` counts waiting too, i.e. wall time), prints where request handling spends
them, the latency floors of a single-candle POST, then EXPLAIN of the writer's merge.
"""

import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.candles import bars, candle_json, http_request, split_requests
from bench.explain import explain_merge
from bench.floors import http_floor, writer_floor
from bench.loadgen import run_load
from bench.stack import Stack
from bench.tools import venv_tool

TOP = 20
STAGES = (  # the first mark found in a sample's stack names its stage
    ("JSON parse (json.loads, parse_float=Decimal)", "_decode ("),
    ("validation (pydantic)", "validate_batch ("),
    ("staging: psycopg write_row adapting values", "write_row ("),
    ("staging: CREATE TEMP TABLE, TRUNCATE, COPY round trips", "_stage ("),
    ("merge: BEGIN, INSERT ... ON CONFLICT (mostly waiting on PostgreSQL)", "_merge ("),
    ("pool: check_connection, an empty query per checkout", "check_connection ("),
    ("commit", "commit ("),
    ("connection pool, other", "_write ("),
    ("authentication, response, request log, Flask", "wsgi_app ("),
)


def record(stack: Stack, plans: list[list[bytes]], name: str, idle: bool) -> Counter[str]:
    """Run the plans while py-spy samples every worker; return the collapsed stacks."""
    outputs = [stack.root / f"{name}-{pid}.txt" for pid in stack.worker_pids()]
    spies = [
        subprocess.Popen([venv_tool("py-spy"), "record", "--pid", out.stem.split("-")[-1],
                          "--format", "raw", "--function", "--rate", "200", "--nonblocking",
                          *(["--idle"] if idle else []), "-o", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for out in outputs
    ]  # fmt: skip
    run_load(stack.port, plans)
    for spy in spies:
        spy.send_signal(2)  # SIGINT: py-spy writes its output and exits
        spy.wait(timeout=60)
    stacks: Counter[str] = Counter()
    for out in outputs:
        for line in out.read_text().splitlines() if out.exists() else []:
            frames, _, count = line.rpartition(" ")
            stacks[frames] += int(count)
    return stacks


def summary(stacks: Counter[str], title: str) -> str:
    """Request-handling samples by stage, then the functions with the most own samples."""
    requests = Counter({f: n for f, n in stacks.items() if "wsgi_app" in f})
    total = sum(requests.values()) or 1
    stages: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for frames, count in requests.items():
        stages[next((name for name, mark in STAGES if mark in frames), "other")] += count
        own[_short(frames.rsplit(";", 1)[-1])] += count
    lines = [f"## {title}: {total:,} samples in request handling "
             f"({sum(stacks.values()) - total:,} outside it)", "", "by stage:"]  # fmt: skip
    lines += [f"  {n * 100 / total:5.1f}%  {name}" for name, n in stages.most_common()]
    lines += ["", "own time:"]
    lines += [f"  {n * 100 / total:5.1f}%  {f}" for f, n in own.most_common(TOP)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """`func (path/to/module.py:12)` without the site-packages prefix."""
    return frame.replace(str(Path(sys.prefix)), "").replace("/lib/python3", "py3")


def main(argv: list[str] | None = None) -> int:
    """Profile the two scenarios and print the summaries and the merge plans."""
    idle = "--idle" in (sys.argv[1:] if argv is None else argv)  # wall time, waits included
    if not shutil.which(venv_tool("py-spy")):
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 2
    with Stack() as stack:
        stack.start_service()
        host = f"127.0.0.1:{stack.port}"
        bulk = [candle_json(bar, "EURUSD") for bar in bars(320_000)]
        stacks = record(stack, split_requests(host, stack.api_key, bulk, 4, 1_000), "bulk", idle)
        print(summary(stacks, "HTTP bulk, batch 1,000 x 4 clients"), "\n")
        singles = [http_request(host, stack.api_key, [candle_json(bar, "GBPUSD")])
                   for bar in bars(5_000)]  # fmt: skip
        print(summary(record(stack, [singles], "single", idle), "Single-candle POSTs, sequential"))
        print("\n## Latency floors\n" + http_floor(stack) + "\n" + writer_floor(stack.url))
        print("\n" + explain_merge(stack.url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
