#!/usr/bin/env bash
# Run the test suite from a fresh clone: installs into .venv first.
# Extra arguments go to pytest, e.g. scripts/test.sh -m slow, scripts/test.sh -k emus.
# shellcheck source=scripts/_env.sh
source "$(dirname "${BASH_SOURCE[0]}")/_env.sh"
cd "$ROOT" || exit 1
ruff check src tests scripts model
exec python -m pytest "$@"
