"""Corpus extraction speed: today's per-file loop against :func:`foldpitch.corpus.extract`.

Generates ``--files`` clips (default 1,000) of 1 to 10 s at mixed sample rates (8 to
48 kHz, 16-bit WAV: harmonic tones with glides, pauses and noise) into a temporary
folder, then runs each method over all of them in a fresh subprocess, with the shipped
checkpoint (or ``--checkpoint``), on the CPU:

* ``loop``: today's ``foldpitch predict`` loop: read a file, :func:`~foldpitch.predict.predict`
  it, write its CSV, next file;
* ``extract``: :func:`foldpitch.corpus.extract` with 0, 1 and 2 ``workers`` and cross-file
  batching (``batch_files``), and with ``batch_files=1`` (one chunk per call: the
  overlap of reading and writing without the batching).

For each: files per second, the real-time factor (wall time over audio time; the model
is loaded before the clock starts), the speed-up over the loop, the peak resident memory
of the process and its DataLoader workers (``ru_maxrss``), and how far its CSVs are
from the loop's (largest f0 difference where both are voiced, in cents; largest
periodicity difference; frames whose voicing differs).

Regenerate ``benchmarks/results/corpus_speed.md`` with::

    python benchmarks/corpus_speed.py --write

and a quick look with ``python benchmarks/corpus_speed.py --files 50``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS_FILE = Path(__file__).parent / "results" / "corpus_speed.md"
RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
METHODS = {
    "loop": {},
    "extract, 0 workers, 1 file per call": {"workers": 0, "batch_files": 1},
    "extract, 0 workers, 16 files per call": {"workers": 0, "batch_files": 16},
    "extract, 1 worker, 16 files per call": {"workers": 1, "batch_files": 16},
    "extract, 2 workers, 16 files per call": {"workers": 2, "batch_files": 16},
}


def generate(folder: Path, n_files: int, seed: int = 0) -> float:
    """Write the clips; returns their total duration in seconds."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    total = 0.0
    for number in range(n_files):
        rate = int(rng.choice(RATES))
        n = int(rng.uniform(1.0, 10.0) * rate)
        t = np.arange(n) / rate
        f0 = rng.uniform(80, 400) * 2 ** (rng.uniform(-1, 1) * t / t[-1])
        phase = 2 * np.pi * np.cumsum(f0) / rate
        harmonics = sum(np.sin(k * phase) / k for k in range(1, 8) if k * f0.max() < rate / 2)
        pauses = np.sin(2 * np.pi * rng.uniform(0.2, 1.0) * t + rng.uniform(0, 6)) > -0.4
        audio = 0.3 * harmonics * pauses + 0.01 * rng.standard_normal(n)
        sf.write(folder / f"clip{number:05d}.wav", audio.astype(np.float32), rate, "PCM_16")
        total += n / rate
    return total


def run_method(name: str, folder: Path, out_dir: Path, checkpoint: str | None) -> dict:
    """One method over the folder, in this process; returns its timing."""
    import torch

    from foldpitch.corpus import extract
    from foldpitch.io import read_audio, write_track_csv
    from foldpitch.predict import _resolve_model, predict

    net = _resolve_model(checkpoint, torch.device("cpu"))
    files = sorted(folder.glob("*.wav"))
    out_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    if name == "loop":  # the body of foldpitch.cli.run_predict's loop
        for path in files:
            audio, rate = read_audio(path)
            result = predict(audio, rate, net, device="cpu")
            columns = (result.times, result.f0, result.periodicity, result.voiced)
            write_track_csv(out_dir / f"{path.stem}.f0.csv", *columns)
    else:
        summary = extract(
            files, out_dir, checkpoint=net, device="cpu", progress=False, **METHODS[name]
        )
        if summary.count("done") != len(files):
            raise RuntimeError(f"{name}: {summary.line()}")
    wall = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"wall": wall, "peak_mb": peak, "worker_peak_mb": children}


def compare(reference: Path, other: Path) -> dict:
    """Largest differences of ``other``'s CSVs from ``reference``'s."""
    cents = periodicity = 0.0
    mismatches = frames = 0
    for path in sorted(reference.glob("*.csv")):
        a = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        b = np.loadtxt(other / path.name, delimiter=",", skiprows=1, ndmin=2)
        if a.shape != b.shape:
            raise RuntimeError(f"{path.name}: {a.shape} frames against {b.shape}")
        both = (a[:, 3] > 0) & (b[:, 3] > 0)
        if both.any():
            cents = max(cents, float(np.abs(1200 * np.log2(a[both, 1] / b[both, 1])).max()))
        periodicity = max(periodicity, float(np.abs(a[:, 2] - b[:, 2]).max()))
        mismatches += int((a[:, 3] != b[:, 3]).sum())
        frames += len(a)
    return {"cents": cents, "periodicity": periodicity, "mismatches": mismatches, "frames": frames}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000, help="clips to generate")
    parser.add_argument("--checkpoint", help="default: the shipped model")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS_FILE.name}")
    parser.add_argument("--method", help=argparse.SUPPRESS)  # a subprocess's one method
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.method:
        timing = run_method(args.method, Path(args.folder), Path(args.out), args.checkpoint)
        print(json.dumps(timing))
        return 0

    with tempfile.TemporaryDirectory(prefix="corpus_speed.") as temporary:
        folder = Path(temporary) / "audio"
        folder.mkdir()
        began = time.perf_counter()
        seconds = generate(folder, args.files)
        spent = time.perf_counter() - began
        print(
            f"generated {args.files} files, {seconds / 3600:.3f} h, {spent:.0f} s", file=sys.stderr
        )
        rows = []
        for number, name in enumerate(METHODS):
            out = Path(temporary) / f"out{number}"
            command = [sys.executable, __file__, "--method", name, "--folder", str(folder)]
            command += ["--out", str(out)] + (
                ["--checkpoint", args.checkpoint] if args.checkpoint else []
            )
            env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
            result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
            timing = json.loads(result.stdout.strip().splitlines()[-1])
            timing["difference"] = compare(Path(temporary) / "out0", out)
            rows.append((name, timing))
            print(f"{name}: {timing}", file=sys.stderr)

    loop_wall = rows[0][1]["wall"]
    load = os.getloadavg()
    lines = [
        f"Corpus extraction, {args.files} generated files of 1-10 s at {len(RATES)} sample rates "
        f"(8-48 kHz), {seconds / 3600:.3f} h of audio; shipped checkpoint, CPU, "
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), torch threads "
        "default. The machine was shared with other jobs during the run (load average "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end): absolute figures are "
        "pessimistic, the ratios are what to read.",
        "",
        "| method | files/s | RTF | speed-up | peak MB (main / workers) | max f0 diff (cents) "
        "| max periodicity diff | voicing differs (frames) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, timing in rows:
        d = timing["difference"]
        lines.append(
            f"| {name} | {args.files / timing['wall']:.2f} | {timing['wall'] / seconds:.4f} "
            f"| {loop_wall / timing['wall']:.2f}x | {timing['peak_mb']:.0f} / "
            f"{timing['worker_peak_mb']:.0f} | {d['cents']:.3f} | {d['periodicity']:.4f} "
            f"| {d['mismatches']} of {d['frames']} |"
        )
    lines.append("")
    files_option = "" if args.files == 1000 else f" --files {args.files}"
    lines.append(
        "Differences are against the loop's CSVs (4 decimals: 1e-4 of rounding). Regenerate: "
        f"`python benchmarks/corpus_speed.py{files_option} --write`."
    )
    table = "\n".join(lines)
    print(table)
    if args.write:
        RESULTS_FILE.write_text(table + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
