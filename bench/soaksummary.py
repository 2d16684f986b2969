"""What the soak's clients saw and how the workers' memory went, as plain figures."""

from collections import Counter
from itertools import pairwise
from typing import Any

from bench.loadgen import percentile
from bench.soakclient import CONN_ERROR, SoakStats
from bench.soakwatch import Sample

FLAT = 1.2  # a worker is flat if its last RSS is at most this times its RSS after warm-up


def requests_summary(clients: list[SoakStats], began: float, load_s: float) -> dict[str, Any]:
    """Status counts, latencies, and when answers came (seconds after `began`)."""
    requests = [r for c in clients for r in c.requests]
    counts = Counter("connection error" if s == CONN_ERROR else str(s) for _, _, s in requests)
    latencies = sorted(seconds for _, seconds, _ in requests)
    return {
        "requests": len(requests),
        "statuses": dict(sorted(counts.items())),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(latencies[-1] * 1000),
        "max_201_ms": round(max((t for _, t, s in requests if s == 201), default=0) * 1000),
        "503_after_1s_wait": sum(s == 503 and t > 1 for _, t, s in requests),
        **_answer_times(requests, began, load_s),
    }


def _answer_times(
    requests: list[tuple[float, float, int]], began: float, load_s: float
) -> dict[str, Any]:
    """When 503s came, the longest wait for a 201 during the load, and answers per second."""
    answered = sorted((start + took - began, status) for start, took, status in requests)
    refused = [at for at, status in answered if status == 503]
    acked = [0.0, *(at for at, status in answered if status == 201 and at < load_s), load_s]
    gap = max(pairwise(acked), key=lambda p: p[1] - p[0], default=(0, 0))
    return {
        "first_503_s": round(min(refused), 1) if refused else None,
        "last_503_s": round(max(refused), 1) if refused else None,
        "longest_without_201_s": [round(gap[0], 1), round(gap[1], 1)],
        "per_second": _per_second(answered),
    }


def _per_second(answered: list[tuple[float, int]]) -> list[list[int]]:
    """[second, 201s, 503s, others] for each second in which answers came."""
    seconds: dict[int, Counter[int]] = {}
    for at, status in answered:
        seconds.setdefault(int(at), Counter())[status] += 1
    return [[t, c[201], c[503], c.total() - c[201] - c[503]] for t, c in sorted(seconds.items())]


def batches_summary(clients: list[SoakStats]) -> dict[str, Any]:
    """Batches acknowledged, given up and re-sent, and what the 201s said was added."""
    return {
        "new_acknowledged": sum(len(c.acked) for c in clients),
        "new_given_up": sum(len(c.unacked) for c in clients),
        "resends": sum(c.resends for c in clients),
        "resend_rows_added": sum(c.resend_added for c in clients),
        "records_added_reported": sum(c.added for c in clients),
        "stored_before_a_503": sum(c.early for c in clients),
        "first_unexpected": next((c.unexpected for c in clients if c.unexpected), ""),
        "crashed": next((c.crashed for c in clients if c.crashed), ""),
    }


def memory_summary(samples: list[Sample], warm_s: float) -> dict[str, Any]:
    """Per worker pid: RSS MiB at its first sample, after warm-up, at peak and at its last."""
    seen: dict[int, list[tuple[float, int]]] = {}
    for at, rss in samples:
        for pid, kib in rss.items():
            seen.setdefault(pid, []).append((at, kib))
    workers = [_worker(pid, series, warm_s) for pid, series in seen.items()]
    final = samples[-1][1].keys() if samples else set()
    return {
        "warm_up_s": warm_s,
        "samples": len(samples),
        "workers": workers,
        "recycled": sum(pid not in final for pid in seen),
        "flat": all(w["flat"] for w in workers),
    }


def _worker(pid: int, series: list[tuple[float, int]], warm_s: float) -> dict[str, Any]:
    first = series[0][0]
    warm = next((kib for at, kib in series if at >= first + warm_s), series[-1][1])
    end = series[-1][1]
    return {
        "pid": pid, "from_s": first, "to_s": series[-1][0],
        "start_mib": _mib(series[0][1]), "warm_mib": _mib(warm),
        "peak_mib": _mib(max(kib for _, kib in series)), "end_mib": _mib(end),
        "flat": end <= FLAT * warm,
    }  # fmt: skip


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)
