"""The wheel, installed in a fresh virtual environment outside the checkout, analyses audio with its own model."""

import csv
import shutil
import subprocess
import sys
import venv
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOT_SOURCE = (".git", ".venv", "runs", "build", "*.egg-info", "__pycache__", ".pytest_cache")
DEFAULT_MODEL = ("models/emotion/int8/model.json", "models/emotion/int8/cpc_step.tflite",
                 "models/emotion/int8/head.tflite")

pytestmark = pytest.mark.slow


def run(command: list, cwd: Path, timeout: float = 600) -> str:
    """Runs a command; its stdout, or a failure showing its output."""
    result = subprocess.run([str(part) for part in command], cwd=cwd, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def needs_isolation() -> bool:
    """Whether pip must fetch the build backend: the test venv's setuptools may be older than pyproject's."""
    return int(version("setuptools").split(".")[0]) < 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel built from a copy of the working tree (a stale `build/` in the checkout cannot leak into it)."""
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    isolation = [] if needs_isolation() else ["--no-build-isolation"]
    run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", folder, *isolation], cwd=source)
    return next(folder.glob("keras_cpc-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv with the wheel and its base dependencies only (no TensorFlow, no Qt); its bin folder."""
    environment = tmp_path_factory.mktemp("venv")
    venv.create(environment, with_pip=True)
    run([environment / "bin" / "python", "-m", "pip", "install", "-q", wheel], cwd=environment)
    return environment / "bin"


def test_the_wheel_holds_every_package_and_the_default_model(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = [path.relative_to(REPO).as_posix() for top in ("app", "keras_cpc", "training")
                for path in (REPO / top).rglob("__init__.py")]
    assert [package for package in packages if package not in names] == []
    assert {f"keras_cpc_assets/{name}" for name in DEFAULT_MODEL} <= names
    assert len([name for name in names if name.startswith("keras_cpc_assets/samples/ravdess/Actor_02/")]) == 8
    assert not [name for name in names if name.startswith("tools/") or name.endswith("screenshots.py")]


def test_the_installed_package_finds_its_model_with_importlib_resources(installed, tmp_path):
    code = ("from importlib.resources import files\n"
            "from app.engine.bundled import DEFAULT_MODEL\n"
            "print(files('keras_cpc_assets'))\n"
            "print(DEFAULT_MODEL)\n")
    assets, model = run([installed / "python", "-c", code], cwd=tmp_path).split()
    assert "site-packages" in assets and Path(model) == Path(assets) / "models" / "emotion" / "int8"
    assert all((Path(assets) / name).is_file() for name in DEFAULT_MODEL)


def test_cpc_analyze_from_the_installed_wheel_uses_the_bundled_model(installed, tmp_path):
    clip = next(installed.parent.glob("lib/python*/site-packages/keras_cpc_assets/samples/ravdess/Actor_02/*.flac"))
    run([installed / "cpc-analyze", clip, "--csv", tmp_path / "out.csv"], cwd=tmp_path)
    with open(tmp_path / "out.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) > 20 and {row["file"] for row in rows} == {str(clip)}
    assert all(-1.5 < float(row["valence"]) < 1.5 for row in rows)
