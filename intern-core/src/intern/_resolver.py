"""The resolver: which implementation of a service runs for a resource, and why.

Order (first that fits wins):

1. the user's explicit choice, ``prefer="<implementation name>"`` (or ``prefer="server"`` / ``prefer="local"`` to
   take only that side);
2. the Remote's own server-side implementation, when it advertises the capability for this resource;
3. plugins' local implementations, by priority (higher first, then by name, so the choice is deterministic);
4. the core's built-in surrogates (negative priority) last.

Every candidate is recorded with the reason it was taken or passed over; :meth:`Resolution.explain` prints the
chain, ``intern capabilities URI`` shows it for every service.

A :class:`Resolution` is an immutable report of that choice. Running it (:meth:`Resolution.run`) returns an
:class:`Outcome`: the result and the implementation that actually answered, with any that declined at call time.
Nothing about a call is kept on the Resolution, so one Resolution may run from many threads at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from ._hookspecs import ServiceSpec
from ._parameters import check_parameters
from ._registry import KNOWN_SERVICES, get_registry, load_reference
from ._traits import Resource, ServerService, SupportsVersions, SupportsWrite, VolumeResource
from .errors import CapabilityUnavailableError, PluginError

__all__ = ["Candidate", "Outcome", "Resolution", "capabilities", "resolve"]

Source = Literal["server", "local"]


@dataclass(frozen=True)
class Candidate:
    """One implementation the resolver considered."""

    name: str
    source: Source
    priority: int
    taken: bool
    reason: str
    description: str = ""


Loader = Callable[[], Callable[..., Any]]


def _explain(capability: str, resource_uri: str, prefer: str | None, candidates: tuple[Candidate, ...]) -> str:
    head = f"{capability} for {resource_uri}"
    if prefer:
        head += f" (prefer={prefer!r})"
    lines = [head + ":"]
    if not candidates:
        dist = KNOWN_SERVICES.get(capability)
        lines.append("  no implementation is installed" + (f' (pip install "{dist}")' if dist else ""))
    for c in candidates:
        mark = "->" if c.taken else "  "
        about = f" ({c.description})" if c.description else ""
        lines.append(f"  {mark} {c.name} [{c.source}, priority {c.priority}]: {c.reason}{about}")
    return "\n".join(lines)


@dataclass(frozen=True)
class Outcome:
    """What running a :class:`Resolution` gave: the result, and which implementation answered.

    Attributes:
        value: the service's result.
        implementation: the name of the implementation that answered (``"dvid-server"``, ``"zmesh"``).
        source: ``"server"`` or ``"local"``.
        declined: the candidates that declined this call before it was answered, each with its reason.
        candidates: the whole chain for this call: the resolution's candidates with the hand-overs recorded.
    """

    value: Any
    implementation: str
    source: Source
    declined: tuple[Candidate, ...] = ()
    candidates: tuple[Candidate, ...] = field(default=(), repr=False)
    capability: str = field(default="", repr=False)
    resource_uri: str = field(default="", repr=False)

    @property
    def server_side(self) -> bool:
        return self.source == "server"

    def explain(self) -> str:
        """The chain as it ran for this call: who declined and why, and who answered."""
        return _explain(self.capability, self.resource_uri, None, self.candidates)


@dataclass(frozen=True)
class Resolution:
    """The outcome of :func:`resolve`: the chosen implementation (or none) and every candidate considered.

    It is a report and never changes. :meth:`run` runs the service and says who answered
    (``resolve("mesh", res).run(ids=[1, 2]).implementation``); calling the Resolution returns the result alone
    (``resolve("mesh", res)(ids=[1, 2])``).
    """

    capability: str
    resource_uri: str
    candidates: tuple[Candidate, ...]
    prefer: str | None = None
    _resource: Any = field(default=None, repr=False, compare=False)
    _fits: tuple[tuple[int, Loader], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))  # a list given by a caller is copied
        object.__setattr__(self, "_fits", tuple(self._fits))

    @property
    def chosen(self) -> Candidate | None:
        return next((c for c in self.candidates if c.taken), None)

    @property
    def available(self) -> bool:
        return self.chosen is not None

    @property
    def implementation(self) -> str | None:
        """The implementation chosen before any call; :attr:`Outcome.implementation` says who answered a call."""
        return self.chosen.name if self.chosen else None

    @property
    def server_side(self) -> bool:
        return bool(self.chosen and self.chosen.source == "server")

    @property
    def passed_over(self) -> list[Candidate]:
        return [c for c in self.candidates if not c.taken]

    def explain(self) -> str:
        """The whole chain, one candidate a line, with why each was taken or passed over."""
        return _explain(self.capability, self.resource_uri, self.prefer, self.candidates)

    def run(self, **params: Any) -> Outcome:
        """Run the chosen implementation; the :class:`Outcome` holds the result and who answered.

        Without an explicit ``prefer``, an implementation may decline at call time by raising
        :class:`CapabilityUnavailableError` (a server that stores meshes for some bodies only, or cannot cut a box):
        the next candidate that fits runs instead, and the Outcome records the hand-over. The Resolution itself is
        left as it was, so concurrent and later calls each get their own account.

        Raises:
            ParameterError: the implementation about to run does not take one of ``params`` (see
                :mod:`intern._parameters`); it is refused before it runs.
            CapabilityUnavailableError: nothing fits, or the last candidate (or the preferred one) declined.
        """
        if not self._fits or self.chosen is None:
            raise CapabilityUnavailableError(self.explain())
        candidates = list(self.candidates)  # this call's own account of the chain
        declined: list[Candidate] = []
        for pos, (index, loader) in enumerate(self._fits):
            implementation = loader()
            # every implementation, server-side or local, answers a parameter it does not take the same way
            others = [(self.candidates[i].name, other) for i, other in self._fits if i != index]
            check_parameters(self.capability, self.candidates[index].name, implementation, params, others)
            try:
                value = implementation(self._resource, **params)
            except CapabilityUnavailableError as exc:
                if self.prefer is not None or pos + 1 == len(self._fits):
                    raise
                nxt = self._fits[pos + 1][0]
                gave_up = candidates[index] = replace(candidates[index], taken=False,
                                                      reason=f"declined when called: {exc}")
                declined.append(gave_up)
                candidates[nxt] = replace(candidates[nxt], taken=True,
                                          reason=f"next that fits, after {gave_up.name} declined")
                continue
            answered = candidates[index]
            return Outcome(value, answered.name, answered.source, tuple(declined), tuple(candidates),
                           self.capability, self.resource_uri)
        raise AssertionError("unreachable: the last candidate either answers or raises")

    def __call__(self, **params: Any) -> Any:
        """Run the service and return its result (:meth:`run` also says which implementation answered)."""
        return self.run(**params).value

    def __repr__(self) -> str:
        where = "server" if self.server_side else "local" if self.available else "unavailable"
        return f"<Resolution {self.capability}: {self.implementation or 'none'} ({where})>"


def _unmet(spec: ServiceSpec, resource: Resource) -> str | None:
    for need in spec.requires:
        if need == "volume" and not isinstance(resource, VolumeResource):
            return "needs a volume"
        if need in ("image", "segmentation"):
            kind = getattr(getattr(resource, "metadata", None), "kind", None)
            if kind != need:
                return f"needs a {need}, this is a{'n' if str(kind)[0] in 'aeiou' else ''} {kind}"
        if need == "writable" and not (isinstance(resource, SupportsWrite) and resource.writable):
            return "needs a writable resource"
        if need == "versions" and not isinstance(resource, SupportsVersions):
            return "needs a versioned datastore"
    return None


def _loader(spec: ServiceSpec) -> Loader:
    """Imports the implementation ``spec`` names when the service runs (``explain()`` imports nothing)."""
    return lambda: load_reference(spec.implementation)


def _server_side(resource: Resource) -> tuple[str, dict[str, Callable[..., Any]]]:
    """The resource's Remote's name for its server-side implementations, and what it serves for this resource.

    Raises:
        PluginError: the Remote has ``server_services`` but no ``server_name`` (both belong to
            :class:`~intern._traits.ServerService`), so its services are not silently passed over.
    """
    remote = getattr(resource, "remote", None)  # a resource that is no Resource (a bare object) has no server side
    if isinstance(remote, ServerService):
        return remote.server_name, dict(remote.server_services(resource))
    if callable(getattr(remote, "server_services", None)):
        raise PluginError(f"the driver's remote {type(remote).__name__} has server_services but no server_name: a "
                          "remote serving services names them, server_name = '<scheme>-server' (see "
                          "intern.plugin.ServerService)")
    return "", {}


def resolve(capability: str, resource: Resource, prefer: str | None = None, *, strict: bool = True) -> Resolution:
    """Choose the implementation of ``capability`` for ``resource``.

    Args:
        capability: ``"mesh"``, ``"skeleton"``, ``"downsample"``, or any a plugin registers.
        resource: an open resource (``intern.open(uri)``) or an :class:`~intern.Array`.
        prefer: an implementation name, or ``"server"`` / ``"local"`` to restrict the side.
        strict: raise when nothing fits (otherwise return the unavailable Resolution, as ``capabilities`` does).

    Raises:
        CapabilityUnavailableError: nothing fits; the message is the whole ``explain()``.
    """
    resource = getattr(resource, "resource", resource)  # an Array stands for its resource
    candidates: list[Candidate] = []
    chosen: Loader | None = None
    fits: list[tuple[int, Loader]] = []  # every candidate that could run, in order
    registry = get_registry()

    def consider(name: str, source: Source, priority: int, unmet: str | None, description: str,
                 loader: Loader) -> None:
        nonlocal chosen
        if not unmet and (prefer is None or prefer == name or prefer == source):
            fits.append((len(candidates), loader))
        if chosen is not None:
            reason, taken = unmet or "an earlier candidate was taken", False
        elif prefer not in (None, "server", "local") and prefer != name:
            reason, taken = f"not the preferred {prefer!r}", False
        elif prefer in ("server", "local") and source != prefer:
            reason, taken = f"prefer={prefer!r}", False
        elif unmet:
            reason, taken = unmet, False
        else:
            chosen = loader  # imported only when the service runs: explain() and capabilities() stay light
            taken = True
            reason = "preferred by the caller" if prefer == name else (
                "the remote serves it" if source == "server" else "highest priority that fits")
        candidates.append(Candidate(name, source, priority, taken, reason, description))

    name, server = _server_side(resource)
    if capability in server:
        impl = server[capability]
        consider(name, "server", 1000, None, getattr(impl, "description", "served by the datastore itself"),
                 lambda: impl)
    for spec in registry.services(capability):
        consider(spec.name, "local", spec.priority, _unmet(spec, resource), spec.description, _loader(spec))

    uri = getattr(resource, "uri", repr(resource))
    result = Resolution(capability, uri, tuple(candidates), prefer, resource, tuple(fits))
    if chosen is None and strict:
        if prefer not in (None, "server", "local") and not any(c.name == prefer for c in candidates):
            names = ", ".join(c.name for c in candidates) or "none"
            raise CapabilityUnavailableError(f"no {capability} implementation is named {prefer!r} (installed: {names})\n"
                                             + result.explain())
        raise CapabilityUnavailableError(result.explain())
    return result


def capabilities(resource: Resource | str) -> dict[str, Resolution]:
    """For every capability known here (installed services and what the remote serves), how it would run."""
    if isinstance(resource, str):
        from ._api import open as open_uri

        resource = open_uri(resource)
    resource = getattr(resource, "resource", resource)
    names = set(get_registry().capabilities) | set(_server_side(resource)[1])
    return {name: resolve(name, resource, strict=False) for name in sorted(names)}
