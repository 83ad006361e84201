"""``intern relay``: serve volumes in the Boss dialect, with a memory and a disk cache.

    intern relay --mount COLL/EXP/CHAN=URI [--mount ...] [--host 127.0.0.1] [--port 8000]
                 [--cache-dir DIR] [--cache-size 10GB] [--memory-size 1GB] [--token TOKEN ...] [--writable]
                 [--workers N] [--header-timeout S] [--body-timeout S] [--keep-alive S] [--max-connections N]

The relay checks every mount before it listens (each upstream opens, and channels of one experiment share its
frame), binds its socket, prints one line ``intern relay: serving http://HOST:PORT ...`` and serves with uvicorn.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from intern.errors import ConfigError, InternError

__all__ = ["main"]

ENV_TOKENS = "INTERN_RELAY_TOKENS"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="intern relay", description="Serve volumes intern reads to any Boss client, "
                                "with an in-memory and an on-disk cuboid cache.")
    p.add_argument("--mount", action="append", default=[], metavar="COLL/EXP/CHAN=URI", required=True,
                   help="serve the volume at URI (any intern URI, another relay too) as channel COLL/EXP/CHAN")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0 picks a free one)")
    p.add_argument("--cache-dir", default=None,
                   help="the disk tier's directory (default ~/.cache/intern/relay; 'none' for no disk tier)")
    p.add_argument("--cache-size", default="10GB", help="disk tier budget, LRU beyond it (default 10GB)")
    p.add_argument("--memory-size", default="1GB", help="in-memory tier budget per worker (default 1GB)")
    p.add_argument("--token", action="extend", nargs="+", default=[], metavar="TOKEN",
                   help=f"accepted tokens (also {ENV_TOKENS}, comma-separated); none serves anonymous reads")
    p.add_argument("--writable", action="store_true", help="write cutout POSTs through to the upstream (needs --token)")
    p.add_argument("--workers", type=int, default=1, help="processes serving, sharing the disk tier (default 1)")
    p.add_argument("--threads", type=int, default=16, help="request threads per process (default 16)")
    p.add_argument("--max-cutout", default="520MiB", help="largest cutout served, uncompressed (default 520MiB; "
                   "uint64 channels get four times as much)")
    p.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="time a connection has to send a request's headers; 408 and closed beyond (default 10)")
    p.add_argument("--body-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="time a request has to send its whole body; 408 and closed beyond (default 60)")
    p.add_argument("--keep-alive", type=float, default=30.0, metavar="SECONDS",
                   help="time an idle connection stays open between requests (default 30)")
    p.add_argument("--max-connections", type=int, default=1000, metavar="N",
                   help="connections each worker holds; one more is answered 503 and closed (default 1000)")
    p.add_argument("--backlog", type=int, default=2048, metavar="N",
                   help="connections the system queues before the relay accepts them (default 2048)")
    p.add_argument("--trim-every", type=float, default=1.0, metavar="SECONDS",
                   help="while requests come in, return freed memory to the system this often (glibc); 0: never "
                        "(default 1)")
    p.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p


def build_config(args: argparse.Namespace) -> object:
    from ._config import RelayConfig, parse_mount, parse_size

    tokens = list(args.token) + [t.strip() for t in os.environ.get(ENV_TOKENS, "").split(",") if t.strip()]
    if args.cache_dir is None:
        cache_dir: str | None = str(Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "intern" / "relay")
    else:
        cache_dir = None if args.cache_dir.lower() == "none" else str(Path(args.cache_dir).expanduser().resolve())
    if args.workers < 1 or args.threads < 1:
        raise ConfigError("--workers and --threads are at least 1")
    return RelayConfig(
        mounts=tuple(parse_mount(m) for m in args.mount), tokens=tuple(tokens), writable=args.writable,
        cache_dir=cache_dir, cache_size=parse_size(args.cache_size), memory_size=parse_size(args.memory_size),
        max_cutout=parse_size(args.max_cutout), workers=args.workers, threads=args.threads,
        header_timeout=args.header_timeout, body_timeout=args.body_timeout, keep_alive=args.keep_alive,
        max_connections=args.max_connections, backlog=args.backlog,
        trim_every=args.trim_every)


#: files a worker needs beside its connections: cache files, upstream connections, logs, the interpreter's own
_SPARE_FILES = 256


def open_file_limit(max_connections: int) -> str | None:
    """Raise this process's open-file limit (its workers inherit it) to what ``max_connections`` needs, as far as
    the hard limit allows; return a warning when it stays short."""
    import resource

    need = max_connections + _SPARE_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return None
    target = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target >= need:
        return None
    return (f"the open-file limit is {target}, below --max-connections {max_connections} + {_SPARE_FILES}: a flood "
            "of connections could leave the relay without files; raise it (ulimit -n) or lower --max-connections")


def check_mounts(config: object) -> list[str]:
    """Open every mount once; raise when one cannot be served; return warnings (an upstream served from cache)."""
    from ._app import RelayApp
    from ._channel import UpstreamUnavailable

    app = RelayApp(config)  # type: ignore[arg-type]
    warnings: list[str] = []
    frames: dict[tuple[str, str], tuple[str, tuple[object, ...]]] = {}  # experiment -> its first mount and frame
    for path, served in sorted(app.channels.items()):
        try:
            geometry = served.geometry()
        except UpstreamUnavailable as exc:
            raise ConfigError(f"--mount {path}: {exc}") from None
        if served._resource is None:
            warnings.append(f"{path}: the upstream {served.mount.upstream} is unavailable; serving what is cached")
        key = (served.mount.collection, served.mount.experiment)
        shape = (geometry.frame(), geometry.times, geometry.method, len(geometry.levels))
        if key in frames and frames[key][1] != shape:
            raise ConfigError(f"--mount {path} and {frames[key][0]} are in one experiment but differ in extent, voxel "
                              "size, time samples or pyramid; a Boss experiment has one coordinate frame: put them in "
                              "different experiments")
        frames.setdefault(key, (path, shape))
    return warnings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        import uvicorn
    except ImportError:
        print("intern relay: error: the relay needs its server: pip install 'intern-boss[relay]'", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = build_config(args)
        warnings = check_mounts(config)
        short = open_file_limit(config.max_connections)  # type: ignore[attr-defined]
        for warning in warnings + ([short] if short else []):
            print(f"intern relay: warning: {warning}", file=sys.stderr)
    except InternError as exc:
        print(f"intern relay: error: {exc}", file=sys.stderr)
        return 2
    from ._config import ENV_VAR

    os.environ[ENV_VAR] = config.to_json()  # type: ignore[attr-defined]
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as exc:
        print(f"intern relay: error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    sock.listen(config.backlog)  # type: ignore[attr-defined]
    sock.set_inheritable(True)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    print(f"intern relay: serving http://{shown}:{port} ({len(config.mounts)} channels, "  # type: ignore[attr-defined]
          f"{args.workers} worker(s), cache {config.cache_dir or 'memory only'})", flush=True)  # type: ignore[attr-defined]
    # the protocol adds the header deadline and the connection cap (uvicorn has neither): see relay/_server.py
    uconfig = uvicorn.Config("intern_boss.relay._app:create_app", factory=True, workers=args.workers,
                             log_level=args.log_level, access_log=args.access_log, lifespan="on",
                             http="intern_boss.relay._server:GuardedProtocol",
                             timeout_keep_alive=config.keep_alive,  # type: ignore[attr-defined]
                             backlog=config.backlog)  # type: ignore[attr-defined]
    server = uvicorn.Server(uconfig)
    try:
        if args.workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(uconfig, sockets=[sock]).run()
        else:
            uconfig.load_app()
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    return 0
