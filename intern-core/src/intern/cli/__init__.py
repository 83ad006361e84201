"""The ``intern`` command line.

Core commands: ``plugins``, ``info URI``, ``ls URI``, ``capabilities URI``, ``cutout URI --box ... -o FILE``.
Plugins add commands through the ``intern_cli_commands`` hook; their code loads only when their command runs. A
command of one of the project's distributions that is not installed answers with the ``pip install`` that brings
it (exit code 2), rather than argparse's "invalid choice".
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from .. import __version__
from ..errors import InternError

__all__ = ["KNOWN_COMMANDS", "main"]

#: commands of the project's own distributions, with the requirement that brings each (as the registry knows schemes)
KNOWN_COMMANDS: Mapping[str, str] = MappingProxyType({
    "mesh": "intern-mesh",
    "relay": "intern-boss[relay]",
})


def _parser() -> argparse.ArgumentParser:
    from .._registry import get_registry

    p = argparse.ArgumentParser(prog="intern", description="One API over the volumetric datastores of connectomics.")
    p.add_argument("--version", action="version", version=f"intern {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("plugins", help="installed drivers and services")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("info", help="metadata of a volume")
    s.add_argument("uri")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("ls", help="what lies below a URI")
    s.add_argument("uri")

    s = sub.add_parser("capabilities", help="which implementation of each service would run, and why")
    s.add_argument("uri")
    s.add_argument("--json", action="store_true", help="print JSON")

    s = sub.add_parser("cutout", help="save a box of a volume to .npy, .tif, .h5 or .png (one z-slice)")
    s.add_argument("uri")
    s.add_argument("--box", required=True, help="Z0:Z1,Y0:Y1,X0:X1 (with leading t/c ranges if the volume has them)")
    s.add_argument("--scale", type=int, default=0)
    s.add_argument("-o", "--output", required=True)

    s = sub.add_parser("copy", help="copy a volume (or a box, at some scales) between any two datastores")
    s.add_argument("source")
    s.add_argument("destination", help="created with the source's metadata when it does not exist")
    s.add_argument("--box", help="Z0:Z1,Y0:Y1,X0:X1 at --scale (default: everything)")
    s.add_argument("--scale", type=int, default=0, help="the level --box is given at")
    s.add_argument("--scales", default="all", help="'all' or levels to copy, e.g. 0,1")
    s.add_argument("--chunk", help="unit of work Z,Y,X, a multiple of the destination's chunks")
    s.add_argument("--workers", type=int, help="threads, or Dask worker processes with --scheduler local")
    s.add_argument("--scheduler", help="'local' or tcp://HOST:PORT for Dask (default: threads, or INTERN_SCHEDULER)")
    s.add_argument("--no-resume", action="store_true", help="ignore the journal of an interrupted run")
    s.add_argument("--no-verify", action="store_true", help="do not read units back to compare checksums")

    installed = get_registry().commands
    for name, spec in sorted(installed.items()):
        sub.add_parser(name, help=spec.help, add_help=False)
    for name, requirement in sorted(KNOWN_COMMANDS.items()):
        if name not in installed:
            sub.add_parser(name, help=f"not installed: pip install \"{requirement}\"", add_help=False)
    return p


def _not_installed(command: str) -> int:
    """The answer to a known command whose distribution is missing: what to install, exit code 2."""
    requirement = KNOWN_COMMANDS[command]
    distribution = requirement.partition("[")[0]
    print(f"intern: error: 'intern {command}' comes with {distribution}, which is not installed here: "
          f'pip install "{requirement}"', file=sys.stderr)
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from .._registry import get_registry

        commands = get_registry().commands
        if argv and argv[0] in commands:  # a plugin's command parses its own arguments
            from .._registry import load_reference

            return int(load_reference(commands[argv[0]].entry)(argv[1:]) or 0)
        if argv and argv[0] in KNOWN_COMMANDS:
            return _not_installed(argv[0])
        args = _parser().parse_args(argv)
        if args.command is None:
            _parser().print_help()
            return 0
        from . import _commands as impl

        return int(getattr(impl, args.command)(args) or 0)
    except (InternError, ValueError) as exc:  # bad input: a message, not a traceback
        print(f"intern: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `intern ... | head` closed its end: not an error of ours
        sys.stderr.close()
        return 0


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2, default=str))
