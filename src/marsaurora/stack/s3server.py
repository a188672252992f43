"""The local stack's S3 server: moto's S3 service alone, on loopback.

``python -m moto.server`` serves every AWS service behind one dispatcher
that, for each request and under one lock, lists moto's ~200 service
folders to find the backend, then logs the request line. The stack only
speaks S3, so this serves moto's S3 application directly, on the same
werkzeug server and request handler ``moto.server`` uses, without that
lookup and without a log line per request. Same S3 implementation, same
HTTP, about a third less server CPU (docs/performance.md).
"""

import argparse
import logging
import signal
import sys
from collections.abc import Sequence

from moto.moto_server.werkzeug_app import MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main(argv: Sequence[str] | None = None) -> int:
    """Serve moto's S3 on ``--host``/``--port`` until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    run_simple(args.host, args.port, create_backend_app("s3"), threaded=True,
               request_handler=MotoRequestHandler)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
