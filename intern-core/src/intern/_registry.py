"""The plugin registry: which schemes, services and commands are installed, and where their code is.

Plugins are found through the ``intern`` entry-point group and loaded with pluggy (see :mod:`intern._hookspecs`).
Loading a plugin imports only its light plugin module; the dotted references it registers are imported on first
use by :func:`load_reference`. The registry is built once per process, on first use, and can be rebuilt with
:func:`reload` (tests, notebooks after ``pip install``).

The registry also holds the process's Remotes: a driver's factory asks :func:`shared_remote` for the remote that
serves a key of its choosing (a host, a protocol, a token), so every URI naming one server shares one connection
pool, and :func:`reload` starts again with none.
"""

from __future__ import annotations

import importlib
import threading
import warnings
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from types import MappingProxyType, ModuleType
from typing import Any, TypeVar

import pluggy

from . import _hookspecs as hookspecs
from ._hookspecs import CommandSpec, SchemeSpec, ServiceSpec
from .errors import DriverNotInstalledError, InvalidURIError, PluginError

__all__ = [
    "PluginInfo",
    "PluginWarning",
    "Registry",
    "get_registry",
    "load_reference",
    "plugins",
    "register",
    "reload",
    "shared_remote",
]

R = TypeVar("R")

#: schemes and services of the project's own distributions, for the install hint when one is missing (services: the
#: requirement to install, with the extra when the service needs one)
KNOWN_SCHEMES: Mapping[str, str] = MappingProxyType({
    "zarr": "intern-zarr", "h5": "intern-zarr", "hdf5": "intern-zarr", "tiff": "intern-zarr",
    "bossdb": "intern-boss", "dvid": "intern-dvid", "dvid+https": "intern-dvid",
    "precomputed": "intern-cloudvolume", "knossos": "intern-knossos",
})
KNOWN_SUFFIXES: Mapping[str, str] = MappingProxyType({
    ".zarr": "zarr", ".ome.zarr": "zarr", ".h5": "h5", ".hdf5": "h5", ".tif": "tiff", ".tiff": "tiff", ".btf": "tiff",
    ".k.toml": "knossos", ".k.conf": "knossos",
})
KNOWN_SERVICES: Mapping[str, str] = MappingProxyType({
    "mesh": "intern-mesh", "skeleton": "intern-mesh[skeleton]", "downsample": "intern-mesh",
})


class PluginWarning(UserWarning):
    """An installed plugin could not be loaded; the others still work."""


@dataclass(frozen=True)
class PluginInfo:
    """One plugin, as ``intern plugins`` shows it; ``error`` says why a plugin that failed to load is unusable."""

    name: str
    module: str
    distribution: str | None
    version: str | None
    schemes: tuple[str, ...]
    services: tuple[str, ...]
    commands: tuple[str, ...]
    error: str | None = None


def load_reference(ref: str) -> Any:
    """Import ``"package.module:attr.sub"`` and return the object.

    Raises:
        PluginError: the module or attribute does not exist (a broken plugin), with the reference in the message.
    """
    module_name, sep, attr = ref.partition(":")
    if not sep:
        raise PluginError(f"reference {ref!r} is not 'module:attribute'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import {module_name!r} for {ref!r}: {exc}") from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PluginError(f"{ref!r}: {module_name} has no attribute {attr!r}") from None
    return obj


class Registry:
    """Schemes, services and CLI commands of the loaded plugins (read-only views)."""

    def __init__(self, *, entry_points: bool = True) -> None:
        self._pm = pluggy.PluginManager("intern")
        self._pm.add_hookspecs(hookspecs.InternHookSpecs)
        from . import _builtin

        self._pm.register(_builtin, name="core")
        self._dists: dict[int, Any] = {}
        self._broken: list[PluginInfo] = []
        # the process's remotes, by (scheme, the driver's key); _remotes_lock protects every read and write of it
        self._remotes: dict[tuple[str, Hashable], Any] = {}
        self._remotes_lock = threading.RLock()
        if entry_points:
            self._load_entry_points()
        self._collect()

    def _load_entry_points(self) -> None:
        # one plugin that fails to import (a missing dependency, a half-finished install) must not take the other
        # drivers down with it: it is skipped with a warning and listed by plugins() with its error
        from importlib.metadata import entry_points

        for ep in entry_points(group="intern"):
            if self._pm.get_plugin(ep.name) is not None or self._pm.is_blocked(ep.name):
                continue
            dist = getattr(ep, "dist", None)
            try:
                plugin = ep.load()
                self._pm.register(plugin, name=ep.name)
            except Exception as exc:
                name = dist.metadata["Name"] if dist is not None else None
                warnings.warn(f"intern plugin {ep.name!r} ({name or ep.value}) cannot be loaded and is skipped: {exc}",
                              PluginWarning, stacklevel=3)
                self._broken.append(PluginInfo(name=ep.name, module=ep.value, distribution=name,
                                               version=dist.version if dist is not None else None, schemes=(),
                                               services=(), commands=(), error=str(exc)))
                continue
            self._dists[id(plugin)] = dist

    def register(self, plugin: ModuleType | object, name: str | None = None) -> None:
        """Add a plugin object or module at run time (for a lab's local driver, or tests)."""
        self._pm.register(plugin, name=name)
        self._collect()

    def _collect(self) -> None:
        try:
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            raise PluginError(str(exc)) from exc
        dists = self._dists
        schemes: dict[str, tuple[SchemeSpec, str]] = {}
        suffixes: dict[str, str] = {}
        services: dict[str, dict[str, tuple[ServiceSpec, str]]] = {}
        commands: dict[str, tuple[CommandSpec, str]] = {}
        infos = []
        results = {hook: _results(self._pm, hook) for hook in ("intern_schemes", "intern_services", "intern_cli_commands")}
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            got_schemes = results["intern_schemes"].get(name, [])
            got_services = results["intern_services"].get(name, [])
            got_commands = results["intern_cli_commands"].get(name, [])
            for spec in got_schemes:
                if not isinstance(spec, SchemeSpec):
                    raise PluginError(f"plugin {name!r} returned {spec!r} from intern_schemes, not a SchemeSpec")
                if spec.scheme in schemes:
                    raise PluginError(f"scheme {spec.scheme!r} is claimed by both {schemes[spec.scheme][1]!r} and {name!r}")
                schemes[spec.scheme] = (spec, name)
                for suffix in spec.suffixes:
                    suffixes[suffix.lower()] = spec.scheme
            for spec in got_services:
                if not isinstance(spec, ServiceSpec):
                    raise PluginError(f"plugin {name!r} returned {spec!r} from intern_services, not a ServiceSpec")
                unknown = set(spec.requires) - hookspecs.REQUIREMENTS
                if unknown:
                    raise PluginError(f"service {spec.name!r} of plugin {name!r} requires unknown traits {sorted(unknown)}")
                impls = services.setdefault(spec.capability, {})
                if spec.name in impls:
                    raise PluginError(f"{spec.capability} implementation {spec.name!r} is registered by both "
                                      f"{impls[spec.name][1]!r} and {name!r}")
                impls[spec.name] = (spec, name)
            for spec in got_commands:
                if not isinstance(spec, CommandSpec):
                    raise PluginError(f"plugin {name!r} returned {spec!r} from intern_cli_commands, not a CommandSpec")
                if spec.name in commands:
                    raise PluginError(f"CLI command {spec.name!r} is claimed by both {commands[spec.name][1]!r} and {name!r}")
                commands[spec.name] = (spec, name)
            dist = dists.get(id(plugin))
            infos.append(PluginInfo(
                name=name,
                module=getattr(plugin, "__name__", type(plugin).__name__),
                distribution=dist.metadata["Name"] if dist is not None else ("intern-core" if name == "core" else None),
                version=dist.version if dist is not None else (_core_version() if name == "core" else None),
                schemes=tuple(s.scheme for s in got_schemes),
                services=tuple(f"{s.capability}:{s.name}" for s in got_services),
                commands=tuple(c.name for c in got_commands),
            ))
        self._schemes = schemes
        self._suffixes = dict(sorted(suffixes.items(), key=lambda kv: -len(kv[0])))
        self._services = services
        self._commands = commands
        self._infos = tuple(infos) + tuple(self._broken)
        self._factories: dict[str, Any] = {}

    # -- remotes ------------------------------------------------------------------------------------------------
    def remote(self, scheme: str, key: Hashable, make: Callable[[], R]) -> R:
        """The remote of ``scheme`` that ``key`` identifies, made by ``make()`` the first time it is asked for.

        ``make`` runs under the table's lock, so two threads asking at once get one remote; it should only build the
        object (no network I/O). It may itself ask for another remote (the lock is re-entrant).
        """
        with self._remotes_lock:
            found = self._remotes.get((scheme, key))
            if found is None:
                found = self._remotes[(scheme, key)] = make()
            return found

    def remotes(self) -> tuple[Any, ...]:
        """Every remote made so far in this registry (for diagnostics and tests)."""
        with self._remotes_lock:
            return tuple(self._remotes.values())

    # -- queries ------------------------------------------------------------------------------------------------
    @property
    def plugins(self) -> tuple[PluginInfo, ...]:
        return self._infos

    @property
    def schemes(self) -> Mapping[str, SchemeSpec]:
        return MappingProxyType({k: v[0] for k, v in self._schemes.items()})

    @property
    def commands(self) -> Mapping[str, CommandSpec]:
        return MappingProxyType({k: v[0] for k, v in self._commands.items()})

    def services(self, capability: str) -> tuple[ServiceSpec, ...]:
        """Local implementations of ``capability``, highest priority first (ties by name, deterministic)."""
        impls = [spec for spec, _ in self._services.get(capability, {}).values()]
        return tuple(sorted(impls, key=lambda s: (-s.priority, s.name)))

    @property
    def capabilities(self) -> tuple[str, ...]:
        return tuple(sorted(self._services))

    def scheme_for_path(self, path: str) -> str:
        """The scheme whose driver claims this plain path's suffix.

        Raises:
            InvalidURIError: no installed driver claims it (with the distribution to install when it is ours).
        """
        # the first path component with a claimed suffix decides: /data/em.zarr/labels/cells is zarr, f.h5/raw is h5
        parts = [p.lower() for p in path.split("/") if p]
        for part in parts:
            for suffix, scheme in self._suffixes.items():
                if part.endswith(suffix):
                    return scheme
        for suffix, scheme in sorted(KNOWN_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
            if any(part.endswith(suffix) for part in parts):
                raise DriverNotInstalledError(
                    f"{path!r} looks like a {suffix} file, which the {KNOWN_SCHEMES[scheme]} driver opens: "
                    f"pip install {KNOWN_SCHEMES[scheme]}", scheme=scheme, distribution=KNOWN_SCHEMES[scheme])
        raise InvalidURIError(
            f"{path!r} has no scheme and no suffix a driver claims; write SCHEME://PATH "
            f"(installed schemes: {', '.join(sorted(self._schemes))})")

    def factory(self, scheme: str) -> Any:
        """The Remote factory of ``scheme``, imported on first use.

        Raises:
            DriverNotInstalledError: no plugin serves the scheme; names the distribution when it is one of ours.
        """
        scheme = scheme.lower()
        if scheme not in self._factories:
            if scheme not in self._schemes:
                dist = KNOWN_SCHEMES.get(scheme)
                installed = ", ".join(sorted(self._schemes))
                if dist:
                    msg = f"no driver for '{scheme}://' is installed: pip install {dist}"
                else:
                    msg = (f"unknown URI scheme '{scheme}://' (installed: {installed}); a driver registers it "
                           "through the 'intern' entry-point group")
                raise DriverNotInstalledError(msg, scheme=scheme, distribution=dist)
            self._factories[scheme] = load_reference(self._schemes[scheme][0].factory)
        return self._factories[scheme]


def _hook_arguments() -> dict[str, Any]:
    """The keyword arguments of the registry's hooks: every argument any spec in :mod:`intern._hookspecs` names."""
    return {"intern_version": _core_version() or "0"}


def _results(pm: pluggy.PluginManager, hook: str) -> dict[str, list[Any]]:
    """Each plugin's answer to ``hook``, by plugin name (pluggy's own call would merge them anonymously).

    Each implementation is called as pluggy calls it: with the spec's arguments it names, by name, so a spec can
    gain arguments without breaking the plugins written before (pluggy checked at registration that an
    implementation names no argument its spec lacks).
    """
    caller = getattr(pm.hook, hook)
    given = _hook_arguments()
    spec_args = caller.spec.argnames if caller.spec is not None else ()
    missing = [name for name in spec_args if name not in given]
    if missing:  # the core's own mistake: a spec grew and the call was not taught the new argument
        raise PluginError(f"the core calls {hook} without {', '.join(missing)}")
    out: dict[str, list[Any]] = {}
    for impl in caller.get_hookimpls():
        try:
            result = impl.function(*[given[name] for name in impl.argnames])
        except Exception as exc:
            raise PluginError(f"plugin {impl.plugin_name!r} failed in {hook}: {exc}") from exc
        out.setdefault(impl.plugin_name, []).extend(result or [])
    return out


def _core_version() -> str | None:
    from . import __version__

    return __version__


_lock = threading.Lock()
_registry: Registry | None = None


def get_registry() -> Registry:
    """The process's registry, built on first call."""
    global _registry
    if _registry is None:
        with _lock:
            if _registry is None:
                _registry = Registry()
    return _registry


def reload() -> Registry:
    """Forget the loaded plugins and the remotes made so far, and find the plugins again.

    After installing a plugin into a running process, or changing the configuration a remote read when it was made
    (a host, a token): the next URI of every scheme makes a fresh remote. Resources opened before keep working with
    the remote they were opened on.
    """
    global _registry
    with _lock:
        importlib.invalidate_caches()
        _registry = Registry()
    return _registry


def shared_remote(scheme: str, key: Hashable, make: Callable[[], R]) -> R:
    """The process's remote of ``scheme`` for ``key``, made by ``make()`` on first use (see :meth:`Registry.remote`).

    A driver's factory calls it with whatever identifies one of its remotes (the host and port of a server, a
    protocol and endpoint, a token); :func:`reload` forgets every remote, so the next URI makes a fresh one.

    >>> from intern._registry import shared_remote
    >>> shared_remote("doc", ("host", 1), dict) is shared_remote("doc", ("host", 1), dict)
    True
    """
    return get_registry().remote(scheme, key, make)


def register(plugin: ModuleType | object, name: str | None = None) -> None:
    """Register a plugin object or module in this process, without an entry point."""
    get_registry().register(plugin, name=name)


def plugins() -> tuple[PluginInfo, ...]:
    """What is installed: each plugin's distribution, version, schemes, services and commands.

    Imports only the light plugin modules, never a driver's heavy dependencies.
    """
    return get_registry().plugins
