"""``python -m intern_dvid.testing [--host 127.0.0.1] [--port 0]``: run the DVID test server in this process.

Prints ``http://HOST:PORT`` on its first line once it listens, so a parent process can read where it is.
"""

from __future__ import annotations

import argparse
import sys

from . import DvidTestServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="DVID-compatible test server (in memory; for tests only)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--max-throttled", type=int, default=2)
    parser.add_argument("--admin-token", default="", help="requests with ?admintoken=TOKEN have admin privileges")
    args = parser.parse_args(argv)
    server = DvidTestServer(args.host, args.port, max_throttled=args.max_throttled, admin_token=args.admin_token)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
