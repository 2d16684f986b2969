"""How many CPUs this process may use: its affinity, capped by a cgroup CPU quota."""

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs the scheduler lets this process run on, at most its cgroup quota (at least 1)."""
    cpus = len(os.sched_getaffinity(0))
    quota = cgroup_quota(root)
    return max(1, min(cpus, math.ceil(quota))) if quota is not None else cpus


def cgroup_quota(root: Path = CGROUP_ROOT) -> float | None:
    """The tightest CPU quota (in CPUs) on this process's cgroup and its ancestors, if any."""
    quotas = [q for folder in _cpu_cgroups(root) if (q := _quota(folder)) is not None]
    return min(quotas, default=None)


def _cpu_cgroups(root: Path) -> list[Path]:
    """The folders of this process's CPU cgroup (v2, or v1's cpu controller) up to the root."""
    folders = []
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers == "":  # cgroup v2
            base = root if (root / "cgroup.controllers").exists() else root / "unified"
        elif "cpu" in controllers.split(","):
            base = root / "cpu"
        else:
            continue
        folder = base / path.lstrip("/")
        folders += [folder, *(p for p in folder.parents if p.is_relative_to(base))]
    return folders


def _quota(folder: Path) -> float | None:
    """The quota set on one cgroup folder, in CPUs; None where none is set."""
    try:
        if (folder / "cpu.max").exists():
            limit, period = (folder / "cpu.max").read_text().split()
        else:
            limit = (folder / "cpu.cfs_quota_us").read_text()
            period = (folder / "cpu.cfs_period_us").read_text()
        cpus = int(limit) / int(period)
    except (OSError, ValueError):  # no such files, or "max": no quota
        return None
    return cpus if cpus > 0 else None
