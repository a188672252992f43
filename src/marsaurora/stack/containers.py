"""The local stack's functions run from their images, the way Knative runs them.

With :class:`FunctionImages`, :class:`~marsaurora.stack.local.LocalStack`
starts each function with ``podman run`` (or docker) instead of as a Python
process: the built image (``scripts/build-images.sh``), as uid 10001, with a
read-only root file system, a tmpfs ``/tmp``, no capabilities and no new
privileges, as the chart's pods run. The containers share the host's
network, so they reach the stack's S3 server and are reached by its broker on
loopback. Only the ``AURORA_*`` and ``AWS_*`` settings go into a container,
named (``--env NAME``) so that values never appear on a command line.
"""

import shutil
import subprocess
from dataclasses import dataclass

CONTAINER_USER = "10001:10001"
"""The uid:gid of the images' ``aurora`` user and of the chart's ``runAsUser``."""
PASSED_PREFIXES = ("AURORA_", "AWS_")
PASSED_NAMES = frozenset({"MALLOC_ARENA_MAX"})


@dataclass(frozen=True)
class FunctionImages:
    """Which images the functions run from, and with which engine."""

    stage: str = "marsaurora-stage:latest"
    detect: str = "marsaurora-detect:latest"
    engine: str = "podman"

    def missing(self) -> str:
        """What keeps these images from running here, in words with the fix; empty if nothing."""
        if shutil.which(self.engine) is None:
            return (f"{self.engine} is not installed; install podman (scripts/podman-setup.sh "
                    "does, on Debian) to run the functions as containers")
        absent = [image for image in (self.stage, self.detect)
                  if subprocess.run([self.engine, "image", "exists", image], capture_output=True,
                                    timeout=60, check=False).returncode != 0]
        if absent:
            return (f"image {', '.join(absent)} not found; build them with "
                    "scripts/build-images.sh (--offline without a registry)")
        return ""

    def image_of(self, function: str) -> str:
        """The detect function has an image of its own; every other shares the stage image."""
        return self.detect if function == "detect" else self.stage

    def container_name(self, function: str, port: int) -> str:
        """A name unique to this stack's function, so that it can be removed by name."""
        return f"marsaurora-{function}-{port}"

    def argv(self, function: str, port: int, env: dict[str, str]) -> list[str]:
        """The ``run`` command of one function container, listening on ``port``."""
        passed = sorted(name for name in env
                        if name.startswith(PASSED_PREFIXES) or name in PASSED_NAMES)
        return [self.engine, "run", "--rm", "--name", self.container_name(function, port),
                "--network", "host", "--user", CONTAINER_USER, "--read-only",
                "--tmpfs", "/tmp", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                *(f"--env={name}" for name in passed),
                self.image_of(function), "--port", str(port), f"/app/functions/{function}"]

    def remove(self, function: str, port: int) -> None:
        """Remove the container at once, whatever happened to the ``run`` client."""
        subprocess.run([self.engine, "rm", "--force", "--time", "1",
                        self.container_name(function, port)],
                       capture_output=True, timeout=60, check=False)
