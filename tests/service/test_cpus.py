"""The default worker count follows the CPUs the process may use, not the host's cores."""

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from candlesvc.service.cpus import CGROUP_ROOT

PROBE = "import candlesvc.gunicorn_conf as conf; print(conf.workers)"


def default_workers(preexec: Callable[[], object] | None = None) -> int:
    """gunicorn's worker count as candlesvc.gunicorn_conf computes it in a new process."""
    env = {k: v for k, v in os.environ.items() if k != "WEB_CONCURRENCY"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=preexec,
    )
    return int(result.stdout)


def test_two_workers_per_cpu_of_the_affinity_mask():
    assert default_workers() == 2 * len(os.sched_getaffinity(0))
    assert default_workers(lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})) == 2


@pytest.fixture
def one_cpu_cgroup() -> Iterator[Path]:
    """A cgroup (v1 cpu controller or v2) whose quota is one CPU, removed afterwards."""
    for folder, quota, limit in (
        (CGROUP_ROOT / "cpu", "cpu.cfs_quota_us", "100000"),
        (CGROUP_ROOT, "cpu.max", "100000 100000"),
    ):
        group = folder / f"candlesvc-test-{uuid.uuid4().hex[:8]}"
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / quota).write_text(limit)
            yield group
        finally:
            group.rmdir()
        return
    pytest.skip("no cgroup with a CPU controller can be created here (needs root)")


def test_a_cgroup_quota_of_one_cpu_caps_the_workers(one_cpu_cgroup):
    def enter() -> None:
        (one_cpu_cgroup / "cgroup.procs").write_text(str(os.getpid()))

    assert default_workers(enter) == 2
