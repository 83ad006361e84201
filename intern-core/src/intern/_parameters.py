"""Which parameters a service implementation takes, checked before it runs.

A service is called with keyword arguments (``intern.mesh(uri, ids=[7])``); each implementation, local or served by
a datastore, takes its own set. The resolver checks the caller's parameters against the implementation it is about
to run, so a misspelt or foreign parameter is a :class:`~intern.errors.ParameterError` naming the service, the
parameter and those the implementation takes, never a bare ``TypeError`` from deep inside, nor silently ignored.

What an implementation takes is read from its signature: the keyword parameters after the resource. An
implementation that passes parameters through ``**params`` (to a library with many options) names them in an
``extra_parameters`` attribute; one that has ``**params`` and no such attribute takes anything, and checks for
itself.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .errors import ParameterError

__all__ = ["check_parameters", "parameters_taken"]

_NAMED = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
#: what other tools of the field call intern's parameters (cloud-volume's ``segids`` and ``mip``, ``labels``...), for
#: the "did you mean" of a message; spelling mistakes are found by similarity
_OTHER_NAMES = {"labels": "ids", "label_ids": "ids", "segids": "ids", "segment_ids": "ids", "mip": "scale",
                "level": "scale", "bbox": "box", "bounds": "box"}


def parameters_taken(implementation: Callable[..., Any]) -> frozenset[str] | None:
    """The keyword parameters ``implementation`` takes besides the resource; ``None`` when it takes any."""
    try:
        signature = inspect.signature(implementation)
    except (TypeError, ValueError):  # a callable without a signature to read: it is its own judge
        return None
    params = list(signature.parameters.values())
    if params and params[0].kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        params = params[1:]  # the resource
    names = {p.name for p in params if p.kind in _NAMED}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        extra = getattr(implementation, "extra_parameters", None)
        if extra is None:
            return None
        names |= set(extra)
    return frozenset(names)


def check_parameters(capability: str, name: str, implementation: Callable[..., Any], params: Mapping[str, Any],
                     others: Iterable[tuple[str, Callable[[], Callable[..., Any]]]] = ()) -> None:
    """Raise :class:`ParameterError` when ``implementation`` (named ``name``) does not take every one of ``params``.

    Args:
        capability: the service (``"mesh"``), for the message.
        name: the implementation's name (``"zmesh"``, ``"dvid-server"``).
        implementation: the callable about to run.
        params: the caller's keyword arguments.
        others: (name, loader) of the other implementations that fit the resource; the message says which of them
            takes the refused parameters, so the caller learns the ``prefer=`` that would run them.
    """
    taken = parameters_taken(implementation)
    if taken is None:
        return
    wrong = sorted(set(params) - taken)
    if not wrong:
        return
    plural = "s" if len(wrong) > 1 else ""
    listed = ", ".join(repr(w) for w in wrong)
    message = (f"{capability} (implementation {name!r}) takes no parameter{plural} {listed}; it takes "
               f"{', '.join(sorted(taken)) or 'none'}")
    close = {w: [_OTHER_NAMES[w]] if _OTHER_NAMES.get(w) in taken else difflib.get_close_matches(w, sorted(taken), n=1)
             for w in wrong}
    hints = [f"did you mean {m[0]!r} for {w!r}?" for w, m in close.items() if m]
    takers = _takers(wrong, others)
    if takers:
        hints.append(f"{' and '.join(takers)} take{'s' if len(takers) == 1 else ''} {listed}: pass "
                     f"prefer={takers[0]!r}")
    raise ParameterError(message + ("; " + " ".join(hints) if hints else ""))


def _takers(wrong: list[str], others: Iterable[tuple[str, Callable[[], Callable[..., Any]]]]) -> list[str]:
    """Names of the other implementations that take every parameter in ``wrong``."""
    found = []
    for other, loader in others:
        try:
            taken = parameters_taken(loader())
        except Exception:  # an implementation that does not even load only loses its mention in a message
            continue
        if taken is not None and set(wrong) <= taken:
            found.append(other)
    return found
