#!/usr/bin/env bash
# Build the two function images with podman (or docker): marsaurora-stage (preprocess,
# classify, catalog, record, deadletter) and marsaurora-detect.
#
#   scripts/build-images.sh                 # online: bases from the registry, pip from PyPI
#   scripts/build-images.sh --offline       # no registry, no PyPI inside the build
#
# --offline makes what a closed network lacks: a Debian bookworm base with Python 3.11
# built from Debian's packages by mmdebstrap (localhost/debian-python:bookworm), and the
# wheels of containers/constraints.txt downloaded on the host into containers/wheels/,
# which the Containerfiles install with no index. Its detect image is the CPU one
# (onnxruntime, not onnxruntime-gpu): a CUDA base cannot be made offline.
# ENGINE (default podman) and TAG (default latest) are read from the environment. Untagged
# images left by earlier builds of ours are removed afterwards.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
ENGINE="${ENGINE:-podman}"
TAG="${TAG:-latest}"
OFFLINE=0
for argument in "$@"; do
  case "$argument" in
    --offline) OFFLINE=1 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "build-images.sh: unknown argument $argument (try --help)" >&2; exit 2 ;;
  esac
done
if ! command -v "$ENGINE" >/dev/null; then
  echo "build-images.sh: $ENGINE not found; install podman (see containers/README.md) or set ENGINE=docker" >&2
  exit 1
fi

stage_args=()
detect_args=()
if [ "$OFFLINE" = 1 ]; then
  base="localhost/debian-python:bookworm"
  if ! "$ENGINE" image exists "$base" 2>/dev/null; then
    echo "making $base from Debian's packages (mmdebstrap, about a minute)" >&2
    mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm - | "$ENGINE" import - "$base"
  fi
  echo "downloading the images' wheels into containers/wheels/" >&2
  pins="$(mktemp)"
  grep -v -e '^#' -e '^onnxruntime-gpu' containers/constraints.txt > "$pins"
  python3 -m pip download -qq --only-binary=:all: --python-version 3.11 \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
    --platform manylinux_2_17_x86_64 --platform linux_x86_64 \
    -d containers/wheels -r "$pins" 'setuptools>=77'
  rm -f "$pins"
  stage_args=(--build-arg "BASE=$base")
  detect_args=(--build-arg "BASE=$base" --build-arg ORT_PACKAGE=onnxruntime)
fi
"$ENGINE" build --quiet -f containers/Containerfile "${stage_args[@]}" \
  -t "marsaurora-stage:$TAG" .
"$ENGINE" build --quiet -f containers/Containerfile.detect "${detect_args[@]}" \
  -t "marsaurora-detect:$TAG" .
# Each rebuild leaves the images it replaces untagged (about 1.4 GB for the two), and
# hundreds of them once filled a CI disk before pip could install the test stack. Remove
# the untagged ones our Containerfiles made (labelled marsaurora.part); the layers the
# new images use stay.
"$ENGINE" image prune --force --filter label=marsaurora.part >/dev/null \
  || echo "build-images.sh: could not remove old untagged images; try $ENGINE image prune" >&2
echo "built marsaurora-stage:$TAG and marsaurora-detect:$TAG"
