"""A dict that computes each missing value once: lookups that hit stay at C speed."""

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

Key = TypeVar("Key", bound=Hashable)
Value = TypeVar("Value")


class Memo(dict[Key, Value], Generic[Key, Value]):
    """A dict that computes and keeps the value of each new key; refused keys are not kept.

    With a limit, it empties itself when full, so that memory stays bounded however
    many keys it meets.
    """

    def __init__(self, compute: Callable[[Key], Value], limit: int | None = None) -> None:
        super().__init__()
        self._compute = compute
        self._limit = limit

    def __missing__(self, key: Key) -> Value:
        value = self._compute(key)
        if self._limit is not None and len(self) >= self._limit:
            self.clear()
        self[key] = value
        return value
