"""The soak's conductor: samples the workers' RSS and restarts PostgreSQL once, at half time."""

import threading
import time
from pathlib import Path

from bench.report import say
from bench.stack import Stack

Sample = tuple[float, dict[int, int]]  # (seconds since the start, {worker pid: RSS KiB})


def rss_kib(pid: int) -> int | None:
    """A process's resident set size (VmRSS) in KiB, or None once it has gone."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return None
    return next((int(line.split()[1]) for line in lines if line.startswith("VmRSS:")), None)


class Watch(threading.Thread):
    """Every `every` seconds, sample each worker's RSS; at `restart_at` s restart PostgreSQL."""

    def __init__(self, stack: Stack, restart_at: float, every: float = 2.0) -> None:
        super().__init__(name="soak-watch", daemon=True)
        self._stack, self._restart_at, self._every = stack, restart_at, every
        self._done = threading.Event()
        self.began = time.monotonic()
        self.samples: list[Sample] = []
        self.restart: dict[str, float] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        """Sample and restart until stopped."""
        self.began = time.monotonic()
        try:
            while True:
                self._sample()
                if not self.restart and self.elapsed() >= self._restart_at:
                    self._restart_database()
                if self._done.wait(self._pause()):
                    return
        except BaseException as error:  # reported by finish(), in the main thread
            self.error = error

    def _pause(self) -> float:
        """Seconds to the next sample, or to the restart if that comes first."""
        return self._every if self.restart else min(self._every, self._restart_at - self.elapsed())

    def elapsed(self) -> float:
        """Seconds since the watch began."""
        return time.monotonic() - self.began

    def finish(self) -> None:
        """Take a last sample, stop, and re-raise whatever went wrong in the thread."""
        self._done.set()
        self.join()
        self._sample()
        if self.error is not None:
            raise self.error

    def _sample(self) -> None:
        rss = {pid: kib for pid in self._stack.worker_pids() if (kib := rss_kib(pid))}
        self.samples.append((round(self.elapsed(), 1), rss))

    def _restart_database(self) -> None:
        """pg_ctl stop -m fast, then start, while the clients keep posting."""
        at = self.elapsed()
        self._stack.cluster.stop()
        stopped = self.elapsed()
        self._stack.cluster.start()
        self.restart = {"at_s": at, "stop_s": stopped - at, "start_s": self.elapsed() - stopped}
        say(f"PostgreSQL restarted at {at:.0f} s (stop {stopped - at:.1f} s, "
            f"start {self.restart['start_s']:.1f} s)")  # fmt: skip
