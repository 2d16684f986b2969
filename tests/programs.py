"""The programs the tests start, found on PATH or in their Debian folders, or one clear failure."""

import shutil
from pathlib import Path

import pytest

INSTALL = "apt-get install {package}"


def require(program: str, package: str, *folders: str) -> str:
    """The path of `program`; without it, fail the test with one line naming its package."""
    found = shutil.which(program)
    for folder in folders:
        if found is None and (Path(folder) / program).exists():
            found = str(Path(folder) / program)
    if found is None:
        pytest.fail(f"{program} is not installed: {INSTALL.format(package=package)}", pytrace=False)
    return found
