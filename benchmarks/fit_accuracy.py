"""How accurate is direct envelope fitting? foldpitch.fit against pyin and Praat.

Clips: 1 s harmonic tones (1/h spectrum) at 16 kHz with an exact f0 by construction --
steady notes, vibrato (6 Hz, +-100 cents) and glides (1 octave/s) -- at f0 = 60, 110,
220, 440 and 1000 Hz (glides rise from half that value), clean and with white noise at
10 dB SNR. Every method runs on the same clips with fmin = 50 Hz, fmax = 1100 Hz and a
10 ms hop; its frames between 50 ms and 950 ms are compared with the exact f0 at the
frame's own time.

Methods: foldpitch's global search alone (YIN-style search + Viterbi path), the refined
envelope (``fit_envelope`` with its defaults), ``librosa.pyin`` and Praat's
autocorrelation pitch (parselmouth), both through ``benchmarks/accuracy/methods.py``.

Metrics: RMS and max |error| in cents over the frames a method calls voiced, and the
fraction of frames it calls voiced (all clips are voiced throughout).

Regenerate: ``python benchmarks/fit_accuracy.py --write`` (writes
``benchmarks/results/fit_accuracy.md`` and ``docs/figures/fit_vibrato.png``).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for benchmarks.accuracy

from benchmarks.accuracy.methods import METHODS, MethodUnavailable  # noqa: E402
from foldpitch.fit import fit_envelope  # noqa: E402
from foldpitch.synth import add_noise, glide_f0, harmonic_tone, vibrato_f0  # noqa: E402

SAMPLE_RATE, FMIN, FMAX, HOP = 16000, 50.0, 1100.0, 0.01
EDGE = 0.05  # seconds left out at each end, for every method alike


def make_clips(f0s, kinds, snrs, seconds=1.0):
    n = int(seconds * SAMPLE_RATE)
    generator = torch.Generator().manual_seed(0)
    clips = []
    for kind in kinds:
        for f0 in f0s:
            if kind == "steady":
                contour = torch.full((n,), float(f0), dtype=torch.float64)
            elif kind == "vibrato":
                contour = vibrato_f0(f0, 6.0, 100.0, SAMPLE_RATE, n)
            else:
                contour = glide_f0(max(f0 / 2, 60.0), 1.0, SAMPLE_RATE, n)
            clean = harmonic_tone(contour, SAMPLE_RATE)
            for snr in snrs:
                audio = clean if snr is None else add_noise(clean, snr, generator)
                clips.append(dict(kind=kind, f0=f0, snr=snr, audio=audio, contour=contour))
    return clips


def foldpitch_method(**options):
    def run(audio, sample_rate, fmin, fmax, hop_seconds=HOP):
        track = fit_envelope(
            torch.as_tensor(audio), sample_rate, fmin, fmax, hop_seconds, **options
        )
        f0 = np.where(track.voiced.numpy(), track.f0.numpy(), 0.0)
        return track.times.numpy().astype(np.float64), f0

    return run


def external_method(name):
    def run(audio, sample_rate, fmin, fmax, hop_seconds=HOP):
        track = METHODS[name](audio.numpy(), sample_rate, fmin, fmax, hop_seconds)
        return track.times, track.f0_hz

    return run


def errors_in_cents(times, f0, contour, seconds):
    """Cents error on voiced frames inside the evaluation window, and the voiced share."""
    inside = (times >= EDGE) & (times <= seconds - EDGE)
    index = np.clip(np.round(times[inside] * SAMPLE_RATE).astype(int), 0, len(contour) - 1)
    truth = contour.numpy()[index]
    voiced = f0[inside] > 0
    cents = 1200 * np.log2(f0[inside][voiced] / truth[voiced])
    return cents, float(voiced.mean()) if voiced.size else 0.0


def run(f0s, kinds, snrs, methods):
    rows = []
    for clip in make_clips(f0s, kinds, snrs):
        seconds = len(clip["audio"]) / SAMPLE_RATE
        for name, method in methods.items():
            began = time.perf_counter()
            try:
                times, f0 = method(clip["audio"], SAMPLE_RATE, FMIN, FMAX, HOP)
            except MethodUnavailable as error:
                rows.append(dict(clip, method=name, unavailable=error.reason))
                continue
            elapsed = time.perf_counter() - began
            cents, voiced = errors_in_cents(times, f0, clip["contour"], seconds)
            rows.append(
                dict(
                    clip,
                    method=name,
                    cents=cents,
                    voiced=voiced,
                    seconds=elapsed,
                    times=times,
                    track=f0,
                )
            )
    return rows


def summary_table(rows, kind, snr):
    selected = [r for r in rows if r["kind"] == kind and r["snr"] == snr and "cents" in r]
    lines = [
        "| method | RMS error (cents) | max error (cents) | frames voiced | worst f0 (RMS) |",
        "|---|---:|---:|---:|---|",
    ]
    results = []
    for method in dict.fromkeys(r["method"] for r in selected):
        mine = [r for r in selected if r["method"] == method]
        cents = np.concatenate([r["cents"] for r in mine])
        rms = math.sqrt(float(np.mean(cents**2))) if cents.size else float("nan")
        worst = max(mine, key=lambda r: _rms(r["cents"]))
        voiced = float(np.mean([r["voiced"] for r in mine]))
        results.append(
            (
                rms,
                method,
                float(np.abs(cents).max()) if cents.size else float("nan"),
                voiced,
                f"{worst['f0']} Hz ({_rms(worst['cents']):.2f})",
            )
        )
    for rms, method, worst_abs, voiced, worst in sorted(results):
        lines.append(f"| {method} | {rms:.3f} | {worst_abs:.2f} | {voiced:.1%} | {worst} |")
    return "\n".join(lines)


def _rms(cents):
    return math.sqrt(float(np.mean(cents**2))) if len(cents) else float("inf")


def timing_table(rows):
    lines = ["| method | mean time per 1 s clip (s) |", "|---|---:|"]
    for method in dict.fromkeys(r["method"] for r in rows if "seconds" in r):
        times = [r["seconds"] for r in rows if r["method"] == method and "seconds" in r]
        lines.append(f"| {method} | {np.mean(times):.2f} |")
    return "\n".join(lines)


def plot_vibrato(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chosen = [
        r
        for r in rows
        if r["kind"] == "vibrato" and r["f0"] == 220 and r["snr"] is None and "track" in r
    ]
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    contour = chosen[0]["contour"].numpy()
    t = np.arange(len(contour)) / SAMPLE_RATE
    top.plot(t, contour, color="black", linewidth=3, alpha=0.3, label="true f0")
    for row in chosen:
        voiced = row["track"] > 0
        truth = contour[
            np.clip(np.round(row["times"] * SAMPLE_RATE).astype(int), 0, len(contour) - 1)
        ]
        top.plot(row["times"][voiced], row["track"][voiced], ".", markersize=3, label=row["method"])
        cents = 1200 * np.log2(row["track"][voiced] / truth[voiced])
        bottom.plot(row["times"][voiced], cents, linewidth=1, label=row["method"])
    top.set(ylabel="f0 (Hz)", title="220 Hz tone, 6 Hz +-100 cent vibrato, clean")
    top.legend(fontsize=8, ncol=3)
    bottom.set(xlabel="time (s)", ylabel="error (cents)", ylim=(-15, 15))
    bottom.axhline(0, color="black", linewidth=0.5)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two f0s, clean, steady+vibrato")
    parser.add_argument("--write", action="store_true", help="write the results and the figure")
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if args.quick:
        f0s, kinds, snrs = (110, 440), ("steady", "vibrato"), (None,)
    else:
        f0s, kinds, snrs = (60, 110, 220, 440, 1000), ("steady", "vibrato", "glide"), (None, 10)
    methods = {
        "foldpitch search only": foldpitch_method(coarse_steps=0, fine_steps=0),
        "foldpitch fit (refined)": foldpitch_method(),
        "pyin": external_method("pyin"),
        "praat": external_method("praat"),
    }
    rows = run(f0s, kinds, snrs, methods)
    sections = [
        "# Direct envelope fitting: accuracy against pyin and Praat",
        "",
        "Generated by `python benchmarks/fit_accuracy.py --write`; see the script's docstring "
        "for the clips and the protocol. f0s: " + ", ".join(f"{f} Hz" for f in f0s) + ".",
    ]
    for unavailable in {(r["method"], r["unavailable"]) for r in rows if "unavailable" in r}:
        sections.append(f"\n**{unavailable[0]} did not run:** {unavailable[1]}")
    for snr in snrs:
        for kind in kinds:
            label = "clean" if snr is None else f"{snr} dB SNR"
            sections += ["", f"## {kind}, {label}", "", summary_table(rows, kind, snr)]
    sections += ["", "## Time", "", timing_table(rows)]
    report = "\n".join(sections) + "\n"
    print(report)
    if args.write:
        (ROOT / "benchmarks" / "results").mkdir(exist_ok=True)
        (ROOT / "benchmarks" / "results" / "fit_accuracy.md").write_text(report)
        (ROOT / "docs" / "figures").mkdir(parents=True, exist_ok=True)
        plot_vibrato(rows, ROOT / "docs" / "figures" / "fit_vibrato.png")
    return report


if __name__ == "__main__":
    main()
