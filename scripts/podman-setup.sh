#!/usr/bin/env bash
# Make podman usable on a machine like CI's (Debian, root, no Docker daemon, no registry):
# install podman, runc and mmdebstrap when missing, and, only where no containers.conf
# exists yet, tell podman to use runc and cgroupfs (without this `podman run` fails while
# setting up cgroups and rlimits). Then build the images offline (scripts/build-images.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
if ! command -v podman >/dev/null || ! command -v mmdebstrap >/dev/null; then
  echo "installing podman, runc and mmdebstrap" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq podman runc mmdebstrap >/dev/null
fi
if [ ! -e /etc/containers/containers.conf ]; then
  $sudo mkdir -p /etc/containers
  printf '%s\n' '[containers]' 'default_ulimits = []' '[engine]' 'runtime = "runc"' \
    'cgroup_manager = "cgroupfs"' 'events_logger = "file"' \
    | $sudo tee /etc/containers/containers.conf >/dev/null
fi
exec bash "$ROOT/scripts/build-images.sh" --offline
