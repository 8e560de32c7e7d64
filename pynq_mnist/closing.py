"""``with``-statement support for everything that owns hardware, buffers or a simulator."""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

_T = TypeVar("_T", bound="Closing")


class Closing:
    """Mixin: ``with obj:`` calls ``obj.close()`` on the way out, also on an exception."""

    def close(self) -> None:
        """Release what the object holds (idempotent)."""

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
