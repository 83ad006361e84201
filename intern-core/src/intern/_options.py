"""Options of ``open`` and ``create``: declared once by a driver, parsed once by the core, with one set of rules.

A driver lists what its Remote takes as :class:`Option` records in an :class:`OptionSet`, its ``declared_options``::

    class MyRemote:
        declared_options = OptionSet("mydb",
            Option("mode", str, "a", choices=("r", "r+", "a"), help="'r' opens read-only"),
            Option("throttle", bool, False, help="ask the server to queue heavy requests"),
            Option("compression", str, "lz4", creation_only=True, help="how the store compresses chunks"),
        )

The core (:func:`intern.open`, :func:`intern.create`) then takes the options of a URI's query string (always text)
and the keyword options of the call, and gives the Remote typed values:

- ``bool``: ``1``/``0``, ``true``/``false``, ``yes``/``no``, ``on``/``off`` in any case, or a Python bool;
- ``int``, ``float``: a number (``float`` also takes whole numbers); ``str``: text, one of ``choices`` when given
  (in any case: ``LZ4`` is ``lz4``);
- :data:`INTS` / :data:`FLOATS`: comma-separated numbers (``16,512,512``) or a sequence of them;
- ``object``: a keyword value passes as it is (codec objects, dicts); from a query string it is the text.

A value that does not fit, and an option of a URI's query the driver does not declare, is an
:class:`~intern.errors.InvalidURIError` naming the option and what it takes; an undeclared option given as a keyword
argument is a :class:`~intern.errors.ParameterError` (a ``TypeError``, as for any call's unexpected keyword). An option marked ``creation_only`` (a chunk shape, a compression) reaches ``create`` and
never ``open``: in a URI's query it says how the volume was made, so the URI that created a volume opens it again.

A Remote that declares nothing receives the options as they come (query values as text), as before options were
declared; new drivers should declare theirs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidURIError, ParameterError, PluginError

__all__ = ["FLOATS", "INTS", "Option", "OptionSet", "parse_bool"]

INTS: Final = "ints"
"""The type of an option holding a list of whole numbers (``block=16,512,512``)."""
FLOATS: Final = "floats"
"""The type of an option holding a list of numbers (``voxel_size=40,4,4``)."""

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_BOOL_WORDS = "1/0, true/false, yes/no, on/off"
_TYPES = (bool, int, float, str, object, INTS, FLOATS)


def parse_bool(value: Any, name: str) -> bool:
    """``value`` as a bool by the rules every option and setting follows (see the module docstring).

    Raises:
        InvalidURIError: ``value`` is none of the accepted spellings; the message names ``name`` and lists them.
    """
    if getattr(value, "shape", None) == () and hasattr(value, "item"):
        value = value.item()  # a numpy scalar (np.True_, np.int64(1)) as the Python value it holds
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    raise InvalidURIError(f"{name}={value!r} is not a yes-or-no value: use {_BOOL_WORDS} (any case)")


@dataclass(frozen=True)
class Option:
    """One option a Remote's ``open`` or ``create`` takes.

    Attributes:
        name: the keyword (and query-string key).
        type: ``bool``, ``int``, ``float``, ``str``, :data:`INTS`, :data:`FLOATS`, or ``object`` (see the module
            docstring).
        default: what the driver does when the option is not given (shown in messages and help; the core passes
            only the options that were given).
        creation_only: the option says how a volume is made; it reaches ``create`` only, never ``open``.
        choices: the values a ``str`` option may take (empty: any text).
        help: one line for users.
    """

    name: str
    type: Any = str
    default: Any = None
    creation_only: bool = False
    choices: tuple[Any, ...] = ()
    help: str = ""

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise TypeError(f"option {self.name!r}: type {self.type!r} is not one of bool, int, float, str, object, "
                            "INTS, FLOATS")

    def parse(self, value: Any, *, scheme: str = "") -> Any:
        """``value`` (text from a query string, or a keyword's value) as this option's type.

        Raises:
            InvalidURIError: the value does not fit; the message names the option and what it takes.
        """
        where = f"{scheme}:// option {self.name}" if scheme else self.name
        kind = self.type
        if kind is bool:
            return parse_bool(value, where)
        if kind is object:
            return value
        try:
            if kind is int:
                if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                    raise ValueError
                parsed: Any = int(value)
            elif kind is float:
                if isinstance(value, bool):
                    raise ValueError
                parsed = float(value)
            elif kind in (INTS, FLOATS):
                items = value.split(",") if isinstance(value, str) else list(value)
                one = int if kind is INTS else float
                parsed = tuple(one(v) for v in items)
                if not parsed or (kind is INTS and any(isinstance(v, float) and not v.is_integer() for v in items)):
                    raise ValueError
            else:
                if not isinstance(value, str):
                    raise ValueError
                parsed = value
        except (TypeError, ValueError):
            raise InvalidURIError(f"{where}={value!r}: {self._takes()}") from None
        if self.choices and parsed not in self.choices:
            if isinstance(parsed, str) and parsed.lower() in self.choices:
                return parsed.lower()  # LZ4 in a configuration file means lz4
            raise InvalidURIError(f"{where}={value!r}: {self._takes()}")
        return parsed

    def _takes(self) -> str:
        if self.choices:
            return "use one of " + ", ".join(repr(c) for c in self.choices)
        return {int: "a whole number", float: "a number", str: "text", INTS: "comma-separated whole numbers (16,512,512)",
                FLOATS: "comma-separated numbers (40,4,4)"}[self.type]


class OptionSet:
    """The options one Remote declares, by name; parses what a call or a URI gives it.

    Args:
        scheme: the scheme, for messages.
        options: the declarations.
    """

    def __init__(self, scheme: str, *options: Option) -> None:
        self.scheme = scheme
        self._options: dict[str, Option] = {}
        for option in options:
            if option.name in self._options:
                raise TypeError(f"{scheme}:// declares option {option.name!r} twice")
            self._options[option.name] = option

    def __iter__(self) -> Iterator[Option]:
        return iter(self._options.values())

    def __contains__(self, name: object) -> bool:
        return name in self._options

    def __getitem__(self, name: str) -> Option:
        return self._options[name]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._options)

    def parse(self, values: Mapping[str, Any], *, keywords: Collection[str] = ()) -> dict[str, Any]:
        """Every value of ``values`` parsed by its declaration.

        Args:
            keywords: the names that came as keyword arguments rather than in a URI's query: an unknown one is a
                wrong argument of a call (as Python's own unexpected keyword), not a wrong URI.

        Raises:
            ParameterError: a keyword option is not declared (the message lists those that are).
            InvalidURIError: an option of the query is not declared, or a value does not fit.
        """
        unknown = sorted(set(values) - set(self._options))
        if unknown:
            known = ", ".join(sorted(self._options)) or "none"
            error = ParameterError if any(name in keywords for name in unknown) else InvalidURIError
            raise error(f"{self.scheme}:// does not know the option(s) {', '.join(unknown)} (it knows: {known})")
        return {name: self._options[name].parse(value, scheme=self.scheme) for name, value in values.items()}

    def for_open(self, query: Mapping[str, str], keywords: Mapping[str, Any]) -> dict[str, Any]:
        """What ``open`` receives: the query's and the keywords' options (keywords win), without creation options.

        A creation option in the query is checked and then dropped (it tells how the volume was made, so the URI
        that created it reopens it); given as a keyword to ``open``, it is an error, since it would change nothing.

        Raises:
            InvalidURIError: as :meth:`parse`, or a creation option given as a keyword.
        """
        parsed = self.parse({**query, **keywords}, keywords=keywords.keys())
        misplaced = sorted(name for name in keywords if self._options[name].creation_only)
        if misplaced:
            raise InvalidURIError(f"{self.scheme}:// option(s) {', '.join(misplaced)} apply when a volume is created; "
                                  "intern.open does not take them (pass them to intern.create)")
        return {name: value for name, value in parsed.items() if not self._options[name].creation_only}

    def for_create(self, query: Mapping[str, str], keywords: Mapping[str, Any]) -> dict[str, Any]:
        """What ``create`` receives: every option of the query and the keywords (keywords win), parsed."""
        return self.parse({**query, **keywords}, keywords=keywords.keys())

    def help(self) -> str:
        """One line per option: name, type, default, whether it applies at creation only, and its help."""
        lines = []
        for o in self._options.values():
            kind = o.type if isinstance(o.type, str) else o.type.__name__
            extra = " (creation only)" if o.creation_only else ""
            choices = f" one of {', '.join(map(str, o.choices))};" if o.choices else ""
            lines.append(f"{o.name}: {kind}, default {o.default!r}{extra};{choices} {o.help}".rstrip())
        return "\n".join(lines)


def declared(remote: Any) -> OptionSet | None:
    """The options ``remote`` declares (its class's ``declared_options``), or None for a Remote that declares none."""
    found = getattr(type(remote), "declared_options", None)  # optional: a Remote that takes no options has none
    if found is None or isinstance(found, OptionSet):
        return found
    raise PluginError(f"the driver's remote {type(remote).__name__} declares declared_options={found!r}, which is "
                      "not an intern.plugin.OptionSet")


def split_options(remote: Any, query: Mapping[str, str], keywords: Mapping[str, Any], *,
                  create: bool) -> dict[str, Any]:
    """The options the core passes to ``remote.open`` (``create=False``) or ``remote.create`` (``create=True``)."""
    options = declared(remote)
    if options is None:
        return {**query, **keywords}
    return options.for_create(query, keywords) if create else options.for_open(query, keywords)
