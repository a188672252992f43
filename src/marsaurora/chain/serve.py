"""Serve one function over HTTP the way its container does, on any port.

``python -m parliament <folder>`` always listens on 8080; the local stack
runs several functions side by side, so this is the same runtime (the
``parliament`` Flask app under ``waitress``) with the port as an argument,
and a readiness probe that asks the function (``main.readiness``) instead of
always answering OK. A function is a folder holding ``func.py`` (as
``functions/<stage>/`` and the containers have), or a stage by name
(``--stage``), which needs nothing but the installed package.
"""

import argparse
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import waitress
from parliament import server

from marsaurora.chain.http import stage_main
from marsaurora.chain.run import HANDLERS
from marsaurora.events import FUNCTION_HEADER


MAX_REQUEST_BYTES = 1 << 20
"""Events carry object references, not data: waitress answers 413 to a larger body
before the function sees it (parliament would swallow Flask's own limit as "no event")."""


def main(argv: Sequence[str] | None = None) -> int:
    """Load ``<folder>/func.py`` and serve it until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", help="a function folder holding func.py")
    parser.add_argument("--stage", choices=sorted(HANDLERS),
                        help="serve this stage of the installed package instead of a folder")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--threads", type=int, default=4,
                        help="requests handled at once (waitress threads)")
    args = parser.parse_args(argv)
    if (args.folder is None) == (args.stage is None):
        parser.error("give a function folder or --stage, not both or neither")
    if args.folder is not None and not (args.folder / "func.py").is_file():
        parser.error(f"{args.folder} has no func.py")
    signal.signal(signal.SIGTERM, lambda number, frame: sys.exit(128 + number))
    function = (server.load(str(args.folder)) if args.folder is not None
                else SimpleNamespace(main=stage_main(args.stage)))
    app = server.create(function)
    name = args.stage or args.folder.resolve().name
    app.after_request(lambda response: _named(response, name))
    readiness = getattr(function.main, "readiness", None)
    if readiness is not None:
        app.view_functions["readiness"] = lambda: _probe(readiness)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads,
                   ident="marsaurora", max_request_body_size=MAX_REQUEST_BYTES, _quiet=True)
    return 0


def _named(response: Any, name: str) -> Any:
    """Every answer says which function gave it (:data:`FUNCTION_HEADER`)."""
    response.headers[FUNCTION_HEADER] = name
    return response


def _probe(readiness: Callable[[], tuple[bool, str]]) -> tuple[str, int]:
    """parliament's readiness route always says OK; this one asks the function."""
    ready, reason = readiness()
    return reason, 200 if ready else 503


if __name__ == "__main__":
    raise SystemExit(main())
