"""The one exception of the test server: an answer other than success, as DVID would send it."""

from __future__ import annotations

__all__ = ["DvidError"]


class DvidError(Exception):
    """An answer other than success: ``status`` and the plain-text ``message`` (empty for a bare 404)."""

    def __init__(self, status: int, message: str = "") -> None:
        super().__init__(status, message)
        self.status = status
        self.message = message
