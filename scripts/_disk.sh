# shellcheck shell=bash
# Sourced by scripts/_env.sh and .ci/run: the room on a disk, and the room the full test
# stack needs, written once. The training stack (PyTorch with its CUDA libraries) takes
# about 5.5 GB of the 7 GB that the "test" extras install, and a test run about 2 GB more
# at its peak.
# shellcheck disable=SC2034  # read by the scripts that source this file
FULL_STACK_FREE_GB=10

# Whole gigabytes free on the file system holding the path $1.
free_gb() { df -Pk "$1" | awk 'NR == 2 {print int($4 / 1048576)}'; }
