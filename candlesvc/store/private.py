"""Files and folders only their owner may use: created private from the start, checked on use.

Modes are given when a file or folder is created (the umask can only narrow them), so none
of them ever exists, even for an instant, with a wider mode than it keeps.
"""

import os
import pwd
import secrets
from pathlib import Path

PRIVATE = 0o077  # no access at all for group and others
WRITABLE = 0o022  # group or others may write


class UnsafePathError(RuntimeError):
    """A file or folder that another user owns or may change; the message says which."""


def make_private_dir(path: Path) -> bool:
    """Create the folder `path` with mode 700 unless it exists; say whether it was created."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return False
    return True


def check_folder(path: Path) -> None:
    """Refuse a folder that another user owns or that group or others may write in."""
    _check(path, os.stat(path), WRITABLE)


def create_private(path: Path, text: str) -> None:
    """Write a new file that only this user may read; FileExistsError if `path` exists."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC  # O_EXCL: no symlink followed
    with open(os.open(path, flags, 0o600), "w") as file:
        file.write(text)


def replace_private(path: Path, text: str) -> None:
    """Write `path` whole, as a file that only this user may read (a new one, renamed over)."""
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    create_private(draft, text)
    os.replace(draft, path)


def read_private(path: Path) -> str:
    """The text of a file that this user owns and that group and others cannot use at all."""
    with open(path) as file:
        _check(path, os.fstat(file.fileno()), PRIVATE)
        return file.read()


def _check(path: Path, info: os.stat_result, forbidden: int) -> None:
    if info.st_uid != os.geteuid():
        raise UnsafePathError(
            f"{path} belongs to {_user(info.st_uid)}, not to {_user(os.geteuid())}; "
            "refusing to use it"
        )
    if info.st_mode & forbidden:
        access = "use" if forbidden == PRIVATE else "write"
        raise UnsafePathError(
            f"{path} has mode {info.st_mode & 0o777:o}: other users may {access} it; "
            f"refusing to use it (chmod go-{'rwx' if forbidden == PRIVATE else 'w'} fixes that)"
        )


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"
