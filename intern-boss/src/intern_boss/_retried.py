"""The header by which a relay says that its upstream's failure was retried already, so that nobody retries it again.

A relay reads its upstream through a client that retries under intern's policy (:mod:`intern._http`). When that client
has spent its tries on a failure (four 503 answers, four refused connections...), the relay answers
``Intern-Attempts: <tries>`` with its 503 or 502. The ``bossdb://`` client does not try such an answer again, and its
error carries those tries as ``attempts``; a relay whose own upstream is a relay passes the number on. So a read
through any number of chained relays costs the failing server the tries of one policy (that of the client next to
it), not that number to the power of the hops. An answer without the header (the relay's upstream failed at once,
without retries) is retried as usual. A client that does not know the header retries as it always does.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["HEADER", "announced", "header"]

HEADER = "Intern-Attempts"


def header(attempts: int | None) -> list[tuple[bytes, bytes]]:
    """The header pairs of an answer to an upstream failure that took ``attempts`` tries (none for a single try).

    >>> header(4), header(1), header(None)
    ([(b'intern-attempts', b'4')], [], [])
    """
    if attempts is None or attempts < 2:
        return []
    return [(HEADER.lower().encode(), str(attempts).encode())]


def announced(headers: Mapping[str, str]) -> int | None:
    """The tries an answer says its failure took behind the server (its ``Intern-Attempts``), if it says so.

    >>> announced({"intern-attempts": "4"}), announced({"Intern-Attempts": "x"}), announced({})
    (4, None, None)
    """
    value = next((v for k, v in headers.items() if k.lower() == HEADER.lower()), None)
    if value is None or not value.strip().isdigit() or int(value) < 1:
        return None
    return int(value)
