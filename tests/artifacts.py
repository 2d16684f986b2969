"""Files the tests leave for people to look at (screenshots), in build/test-artifacts/."""

import time
from pathlib import Path

import pytest

ARTIFACTS = Path(__file__).resolve().parent.parent / "build" / "test-artifacts"
_STARTED = pytest.StashKey[float]()


def artifact(name: str) -> Path:
    """Where a test saves the artefact `name`; printed at the end of the run."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / name


def pytest_sessionstart(session: pytest.Session) -> None:
    """Note when the run started, to list the artefacts it saved."""
    session.config.stash[_STARTED] = time.time()


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    """Name each artefact saved during this run (by any xdist worker too)."""
    started = config.stash.get(_STARTED, time.time())
    saved = sorted(ARTIFACTS.glob("*")) if ARTIFACTS.is_dir() else []
    for path in saved:
        if path.stat().st_mtime >= started:
            terminalreporter.write_line(f"test artefact: {path}")
