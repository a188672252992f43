# shellcheck shell=bash
# Sourced by the scripts: make .venv with the project and the extras they need installed
# (AURORA_EXTRAS, default "test": everything, the training stack included; the demo asks
# for "report" only). Re-installs only when pyproject.toml or the extras changed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PYTHON="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV" >&2
  "$PYTHON" -m venv "$VENV"
fi
EXTRAS="${AURORA_EXTRAS:-test}"
stamp="$VENV/.installed-$( (cat "$ROOT/pyproject.toml"; echo "$EXTRAS") | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "installing marsaurora and its dependencies into $VENV" >&2
  free_gb=$(df -Pk "$VENV" | awk 'NR == 2 {print int($4 / 1048576)}')
  if [[ ",$EXTRAS," =~ ,(test|train), ]] && [ "$free_gb" -lt 8 ]; then
    echo "warning: ${free_gb} GB free beside $VENV; the training stack (PyTorch with its CUDA" \
      "libraries) takes about 7 GB: free some space if pip stops with 'No space left on device'" >&2
  fi
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "${ROOT}[${EXTRAS}]"
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
export PATH="$VENV/bin:$PATH"
