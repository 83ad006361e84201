"""Hook specifications: the documented surface a plugin implements.

A plugin is a plain module named by an entry point in the group ``intern``::

    # pyproject.toml of a driver distribution
    [project.entry-points.intern]
    mydriver = "intern_mydriver.plugin"

The module implements any of the hooks below with :data:`hookimpl` and must stay light: it is imported by
``import intern``'s first registry use and by ``intern plugins``, so it names its heavy code by dotted reference
(``"intern_mydriver._store:MyRemote"``) instead of importing it. The core imports a reference on first use.

    # intern_mydriver/plugin.py
    from intern._hookspecs import SchemeSpec, hookimpl

    @hookimpl
    def intern_schemes():
        return [SchemeSpec("mydb", "intern_mydriver._remote:MyRemote.from_uri", suffixes=(".mydb",))]

Hooks are called the way pluggy calls them: each implementation receives, by name, the arguments of its spec that
it names, and no others. An implementation may therefore accept fewer arguments than its spec (``intern_schemes()``
above takes none), so a spec can gain arguments without breaking the plugins written before; naming an argument
the spec does not have is an error when the plugin is registered. Every hook here returns a list and the core
concatenates the lists of all plugins. A hook name with the ``intern_`` prefix that is not specified here is an
error at load time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pluggy

__all__ = ["CommandSpec", "SchemeSpec", "ServiceSpec", "hookimpl", "hookspec"]

hookspec = pluggy.HookspecMarker("intern")
"""Marks the hook specifications below (intern's own use)."""
hookimpl = pluggy.HookimplMarker("intern")
"""Marks a plugin module's functions that implement the hooks below: ``@hookimpl def intern_schemes(): ...``."""

REQUIREMENTS = frozenset({"volume", "image", "segmentation", "writable", "versions"})
"""What a service may require of a resource; the resolver checks them before it loads an implementation."""


@dataclass(frozen=True)
class SchemeSpec:
    """A URI scheme and the Remote factory that serves it.

    Attributes:
        scheme: lower-case scheme (``"zarr"``).
        factory: dotted reference ``"module:attr"`` to a callable ``(URI) -> (remote, path)``.
        suffixes: plain paths ending so (``".zarr"``) are opened with this scheme.
        description: one line for ``intern plugins``.
    """

    scheme: str
    factory: str
    suffixes: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class ServiceSpec:
    """One implementation of a capability that runs locally on any resource that has what it requires.

    Attributes:
        capability: the service's name (``"mesh"``, ``"skeleton"``, ``"downsample"``).
        name: this implementation's name, unique for the capability (``"zmesh"``); ``prefer=`` takes it.
        implementation: dotted reference to a callable ``(resource, **params) -> result``.
        priority: higher wins among plugins; built-in fallbacks use negative numbers.
        requires: traits the resource must have; a subset of :data:`REQUIREMENTS`.
        description: one line for ``intern plugins`` and ``explain()``.
    """

    capability: str
    name: str
    implementation: str
    priority: int = 0
    requires: tuple[str, ...] = ("volume",)
    description: str = ""
    parameters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandSpec:
    """A subcommand of the ``intern`` CLI.

    Attributes:
        name: the subcommand (``intern NAME ...``).
        entry: dotted reference to ``main(argv: list[str]) -> int | None`` that parses its own arguments.
        help: one line for ``intern --help``.
    """

    name: str
    entry: str
    help: str = ""


class InternHookSpecs:
    """The hooks, grouped by when the core calls them (all at registry load).

    Arguments are passed by name; an implementation declares only those it uses (see the module docstring).
    """

    @hookspec
    def intern_schemes(self, intern_version: str) -> list[SchemeSpec]:  # type: ignore[empty-body]  # pluggy never runs a spec
        """URI schemes this plugin serves.

        Args:
            intern_version: the version of the running intern-core (``"2.0.0"``), for a plugin that registers
                differently for different cores. Like every hook argument, take it only if you need it.

        Returns:
            a list of :class:`SchemeSpec`. Two plugins claiming one scheme is an error naming both.
        """

    @hookspec
    def intern_services(self, intern_version: str) -> list[ServiceSpec]:  # type: ignore[empty-body]  # pluggy never runs a spec
        """Local implementations of services, for the resolver.

        Server-side implementations are not registered here: a Remote advertises them per resource through
        ``server_services(resource)`` (see :class:`intern._traits.ServerService`).

        Args:
            intern_version: as for :meth:`intern_schemes`.

        Returns:
            a list of :class:`ServiceSpec`.
        """

    @hookspec
    def intern_cli_commands(self, intern_version: str) -> list[CommandSpec]:  # type: ignore[empty-body]  # pluggy never runs a spec
        """Subcommands this plugin adds to the ``intern`` CLI.

        Args:
            intern_version: as for :meth:`intern_schemes`.

        Returns:
            a list of :class:`CommandSpec`; a name the core or another plugin uses already is an error.
        """
