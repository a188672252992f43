# shellcheck shell=bash
# Sourced by the scripts: make .venv (or AURORA_VENV) with the project and the extras they
# need installed (AURORA_EXTRAS, default "test": everything, the training stack included, or
# "test-core" where the disk is short of room for it; the demo asks for "report" only).
# Re-installs only when pyproject.toml or the extras changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/_disk.sh
source "$ROOT/scripts/_disk.sh"
VENV="${AURORA_VENV:-$ROOT/.venv}"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
# Where the disk has less than FULL_STACK_FREE_GB free (_disk.sh), no extras were asked for
# and PyTorch is not already in the environment (a change to pyproject.toml re-installs),
# install "test-core" instead: every test runs but the few that need ultralytics, which
# skip. A CI machine with a small disk once stopped in pip with 'No space left on device'
# before any test ran.
stamp_for() {
  echo "$VENV/.installed-$( (cat "$ROOT/pyproject.toml"; echo "$1") | sha256sum | cut -c1-16)"
}
has_torch() { compgen -G "$VENV/lib/python*/site-packages/torch" >/dev/null; }
EXTRAS="${AURORA_EXTRAS:-test}"
if [ -z "${AURORA_EXTRAS:-}" ] && [ ! -f "$(stamp_for test)" ] && ! has_torch; then
  room="$(free_gb "$VENV")"
  if [ "$room" -lt "$FULL_STACK_FREE_GB" ]; then
    echo "warning: ${room} GB free beside $VENV, under the ${FULL_STACK_FREE_GB} GB that the" \
      "training stack and a test run need: installing the test extras without it; the tests" \
      "that need ultralytics will skip. Free some space (or set AURORA_EXTRAS=test) for them." >&2
    EXTRAS="test-core"
  fi
fi
stamp="$(stamp_for "$EXTRAS")"
if [ ! -f "$stamp" ]; then
  echo "installing marsaurora[$EXTRAS] and its dependencies into $VENV" >&2
  # No wheel cache: the venv is installed once per pyproject.toml, and a cached copy of
  # PyTorch's downloads would take as much disk again.
  "$VENV/bin/python" -m pip install --quiet --no-cache-dir --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --no-cache-dir -e "${ROOT}[${EXTRAS}]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
