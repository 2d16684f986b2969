"""The machine a run came from."""

import os
import platform
from datetime import UTC, datetime
from pathlib import Path


def _proc_field(path: str, name: str) -> str:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(name)), "")


def machine_info(postgres_version: str, gunicorn: dict[str, str]) -> dict[str, str]:
    """CPU model, cores, RAM, versions and the date, as the results record them."""
    mem_kib = _proc_field("/proc/meminfo", "MemTotal").split()[:1] or ["0"]
    return {
        "cpu": _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown",
        "cores": str(os.cpu_count() or 1),
        "ram": f"{int(mem_kib[0]) / 1024**2:.1f} GiB",
        "os": platform.platform(terse=True),
        "postgresql": postgres_version,
        "python": platform.python_version(),
        "gunicorn": f"{gunicorn['workers']} {gunicorn['worker_class']} workers",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": " / ".join(f"{load:.1f}" for load in os.getloadavg()),
    }
