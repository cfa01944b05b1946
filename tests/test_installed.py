"""The installed package, not the checkout.

Builds the sdist and, from it, the wheel (what ``python -m build`` does), installs the
wheel into a fresh virtual environment and runs it from a temporary folder, with
neither the repository nor its ``src/`` on the path: ``foldpitch demo``, ``foldpitch
predict`` on a 44.1 kHz stereo WAV and a FLAC, and ``foldpitch.predict`` from Python.

The environment reuses the installed torch, numpy, soundfile and soxr (this
interpreter's site folders, after its own) and the wheel goes in with ``--no-deps``: what it must
carry itself (its code, the C source of the fused kernel, the shipped weights) comes
from the wheel alone, and the dependencies it declares are checked in its METADATA.
One build per session (a module-scoped fixture), about half a minute.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tarfile
import venv
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from foldpitch.synth import harmonic_tone

ROOT = Path(__file__).resolve().parents[1]
# What predict, fit, the losses and the CLI import on their default paths.
CORE_DEPENDENCIES = {"torch", "numpy", "soundfile", "soxr"}
SHIPPED = ("foldpitch/weights/foldpitch-16k.ckpt", "foldpitch/csrc/fold_cycles.c")
# Not part of a build: version control, caches, outputs of runs and of earlier builds.
IGNORED = shutil.ignore_patterns(
    ".git",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    "outputs",
    "wandb",
    "lightning_logs",
    ".venv",
    ".*_cache",
    ".hypothesis",
    ".benchmarks",
)


def run(command, cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run with an environment that cannot see this checkout's ``src/``."""
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} exited with {result.returncode}\n"
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    """The sdist and the wheel built from it, from a copy of the checkout."""
    work = tmp_path_factory.mktemp("build")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=IGNORED)
    dist = work / "dist"
    # --no-isolation: the installed setuptools (the dev extra), no download.
    run([sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, source], cwd=work)
    (sdist,) = dist.glob("foldpitch-*.tar.gz")
    (wheel,) = dist.glob("foldpitch-*.whl")
    return {"sdist": sdist, "wheel": wheel}


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> dict[str, Path]:
    """A virtual environment holding the wheel, and an empty folder to run in."""
    work = tmp_path_factory.mktemp("installed")
    environment = work / "venv"
    venv.create(environment, with_pip=False)
    # This interpreter's site folders (torch, numpy, ...) after the venv's own, whether
    # this interpreter is a venv or not (system_site_packages=True would reach only the
    # base interpreter's). An `import` line in a .pth file runs at start-up.
    own = sysconfig.get_path("purelib", vars={"base": environment, "platbase": environment})
    lines = [f"import site; site.addsitedir({folder!r})\n" for folder in site.getsitepackages()]
    (Path(own) / "_outer_site_packages.pth").write_text("".join(lines))
    python = environment / "bin" / "python"
    # The checkout's own (editable) install stays visible through those folders, so
    # --force-reinstall: pip installs the wheel into the venv, where it comes first.
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--no-deps"]
    run([*pip, "--force-reinstall", "--no-index", built["wheel"]], cwd=work)
    folder = work / "run"
    folder.mkdir()
    return {"python": python, "bin": environment / "bin", "cwd": folder, "venv": environment}


def test_the_wheel_and_the_sdist_carry_the_weights_and_the_c_source(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
    assert set(SHIPPED) <= names, sorted(names)
    assert "foldpitch/loss/__init__.py" in names
    assert built["wheel"].stat().st_size < 5e6  # a few MB: the weights are 2.0 MB
    with tarfile.open(built["sdist"]) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {f"src/{name}" for name in SHIPPED} <= names, sorted(names)


def test_the_wheel_declares_the_core_dependencies(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        (metadata,) = (name for name in wheel.namelist() if name.endswith(".dist-info/METADATA"))
        text = wheel.read(metadata).decode()
    requirements = re.findall(r"^Requires-Dist: (.+)$", text, flags=re.MULTILINE)
    core = {
        re.match(r"[A-Za-z0-9_.-]+", line).group().lower()
        for line in requirements
        if "extra ==" not in line
    }
    assert CORE_DEPENDENCIES <= core, requirements


def test_the_installed_package_is_the_wheel(installed):
    found = run(
        [installed["python"], "-c", "import foldpitch; print(foldpitch.__file__)"],
        cwd=installed["cwd"],
    ).stdout.strip()
    assert Path(found).resolve().is_relative_to(installed["venv"].resolve()), found


def test_demo_runs_from_the_wheel(installed):
    result = run([installed["bin"] / "foldpitch", "demo"], cwd=installed["cwd"])
    share = re.search(r"frames within 50 cents \(and called voiced\): ([\d.]+)%", result.stdout)
    assert share is not None, result.stdout
    assert float(share.group(1)) > 80, result.stdout


def test_predict_command_on_a_stereo_wav_at_44k1_and_a_flac(installed):
    cwd = installed["cwd"]
    left = harmonic_tone(220.0, 44100, 44100).numpy()
    stereo = np.stack([0.5 * left, 0.3 * left], axis=1)  # (time, channels), as files hold it
    soundfile.write(cwd / "stereo.wav", stereo, 44100, subtype="PCM_16")
    soundfile.write(cwd / "tone.flac", harmonic_tone(330.0, 22050, 22050).numpy(), 22050)
    run([installed["bin"] / "foldpitch", "predict", "stereo.wav", "tone.flac"], cwd=cwd)
    for name, f0 in (("stereo", 220.0), ("tone", 330.0)):
        with open(cwd / f"{name}.f0.csv") as stream:
            rows = list(csv.DictReader(stream))
        assert len(rows) == 100  # 1 s at the default hop of 0.01 s
        times = np.array([float(row["time"]) for row in rows])
        np.testing.assert_allclose(times, np.arange(100) * 0.01, atol=1e-6)
        middle = rows[10:-10]
        assert all(row["voiced"] == "1" for row in middle), name
        cents = 1200 * np.log2(np.array([float(row["frequency"]) for row in middle]) / f0)
        assert np.abs(cents).max() < 20, (name, cents)


def test_predict_from_python(installed):
    code = (
        "import numpy as np, foldpitch\n"
        "t = np.arange(44100) / 44100\n"
        "audio = sum(np.sin(2 * np.pi * 196 * k * t) / k for k in range(1, 6))\n"
        "result = foldpitch.predict(0.3 * audio, 44100)\n"
        "print(float(np.median(result.f0[10:-10].numpy())), bool(result.voiced[10:-10].all()))\n"
    )
    median, voiced = run([installed["python"], "-c", code], cwd=installed["cwd"]).stdout.split()
    assert abs(1200 * np.log2(float(median) / 196.0)) < 20
    assert voiced == "True"
