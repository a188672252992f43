"""scripts/_env.sh picks the extras it installs by the room on the disk.

The real pip and df are replaced by scripts that record what they were asked and report a
chosen free space, so the choice is seen without installing gigabytes.
"""

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _project(tmp_path: Path, venv: str = ".venv") -> Path:
    """A copy of the scripts and pyproject.toml, and a venv whose python logs its calls."""
    (tmp_path / "scripts").mkdir()
    for script in ("_env.sh", "_disk.sh"):
        shutil.copy(ROOT / "scripts" / script, tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    python = tmp_path / venv / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "$*" >> {tmp_path / "pip.log"}\n')
    python.chmod(0o755)
    (tmp_path / "fake-bin").mkdir()
    return tmp_path


def _source(project: Path, free_gb: int, **env: str) -> str:
    """Source _env.sh with df reporting free_gb; return what the fake python was asked."""
    df = project / "fake-bin" / "df"
    df.write_text("#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted'\n"
                  f"echo 'disk 999999999 1 {free_gb * 1048576} 1% /'\n")
    df.chmod(0o755)
    subprocess.run(["bash", "-c", "source scripts/_env.sh"], cwd=project, check=True,
                   capture_output=True, text=True, timeout=60,
                   env={"PATH": f"{project / 'fake-bin'}:/usr/bin:/bin", **env})
    log = project / "pip.log"
    return log.read_text() if log.exists() else ""


def _installed_extras(pip_log: str) -> list[str]:
    return [line.split("[")[-1].rstrip("]") for line in pip_log.splitlines() if " -e " in line]


def test_a_roomy_disk_gets_everything(tmp_path):
    assert _installed_extras(_source(_project(tmp_path), free_gb=60)) == ["test"]


def test_a_small_disk_gets_the_tests_without_the_training_stack_until_room_is_made(tmp_path):
    project = _project(tmp_path)
    assert _installed_extras(_source(project, free_gb=4)) == ["test-core"]
    assert _installed_extras(_source(project, free_gb=4)) == ["test-core"], "installed twice"
    assert _installed_extras(_source(project, free_gb=60)) == ["test-core", "test"]
    assert _installed_extras(_source(project, free_gb=4)) == ["test-core", "test"]


def test_extras_asked_for_are_installed_whatever_the_disk(tmp_path):
    project = _project(tmp_path)
    assert _installed_extras(_source(project, free_gb=4, AURORA_EXTRAS="test")) == ["test"]


def test_the_environment_goes_where_aurora_venv_says(tmp_path):
    project = _project(tmp_path, venv="elsewhere/venv")
    pip_log = _source(project, free_gb=60, AURORA_VENV=str(project / "elsewhere" / "venv"))
    assert _installed_extras(pip_log) == ["test"]
    assert list((project / "elsewhere" / "venv").glob(".installed-*"))
    assert not (project / ".venv").exists()


def test_an_environment_that_has_pytorch_keeps_everything_on_a_small_disk(tmp_path):
    project = _project(tmp_path)
    (project / ".venv" / "lib" / "python3.11" / "site-packages" / "torch").mkdir(parents=True)
    assert _installed_extras(_source(project, free_gb=4)) == ["test"]
