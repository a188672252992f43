#!/usr/bin/env bash
# Delete the kind cluster that scripts/kind-up.sh made (CLUSTER, default marsaurora).
#   scripts/kind-down.sh [--dry-run]
set -euo pipefail
CLUSTER="${CLUSTER:-marsaurora}"
case "${1:-}" in
  --dry-run) printf '+ kind delete cluster --name %s\n' "$CLUSTER" ;;
  "") kind delete cluster --name "$CLUSTER" ;;
  *) echo "kind-down.sh: unknown argument '$1' (only --dry-run)" >&2; exit 2 ;;
esac
