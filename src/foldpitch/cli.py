"""The ``foldpitch`` command.

``foldpitch demo`` fits a period envelope to a built-in example (a harmonic tone with a
known vibrato) by gradient descent on the dense fold-alignment loss, starting 10 % off,
and prints how close it gets. It needs nothing but the core install.

``foldpitch fit AUDIO...`` fits the envelope of each file (search, then refinement; see
:func:`foldpitch.fit.fit_envelope`) and writes one CSV per file
(``time,frequency,periodicity,voiced``) and, with ``--plot``, a figure.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch

from .envelope import hz_to_log2_period, log2_period_to_hz
from .loss import dense_fold_loss
from .synth import harmonic_tone, vibrato_f0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foldpitch", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit an envelope to a built-in vibrato tone")
    demo.add_argument("--steps", type=int, default=150, help="Adam steps (default: 150)")
    demo.add_argument("--kernel", default="cubic", choices=("linear", "cubic", "sinc"))
    demo.add_argument("--plot", metavar="PNG", help="also write a figure (needs matplotlib)")

    fit = commands.add_parser("fit", help="fit the f0 envelope of audio files directly")
    fit.add_argument("audio", nargs="+", help="audio files (multi-channel files are averaged)")
    fit.add_argument("--out-dir", default=".", help="where the CSVs go (default: .)")
    fit.add_argument("--fmin", type=float, default=50.0, help="lowest f0 in Hz (default: 50)")
    fit.add_argument("--fmax", type=float, default=1100.0, help="highest f0 in Hz (default: 1100)")
    fit.add_argument("--hop-ms", type=float, default=10.0, help="frame spacing in ms (default: 10)")
    fit.add_argument("--steps", type=int, default=100, help="fine Adam steps (default: 100)")
    fit.add_argument("--plot", action="store_true", help="also write NAME.f0.png beside the CSV")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return run_demo(args.steps, args.kernel, args.plot)
    return run_fit(args)


def run_fit(args) -> int:
    """Fit every file; a file that fails is reported and the others still run."""
    from .fit import fit_envelope
    from .io import read_audio, write_track_csv

    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    failures = 0
    for number, name in enumerate(args.audio, 1):
        print(f"[{number}/{len(args.audio)}] {name}", file=sys.stderr)
        try:
            audio, sample_rate = read_audio(name)
            track = fit_envelope(
                audio, sample_rate, args.fmin, args.fmax, args.hop_ms / 1000, fine_steps=args.steps
            )
            target = out_dir / f"{Path(name).stem}.f0.csv"
            write_track_csv(target, track.times, track.f0, track.periodicity, track.voiced)
            if args.plot:
                from .plot import plot_track

                plot_track(target.with_suffix(".png"), audio, sample_rate, track, Path(name).name)
            voiced = float(track.voiced.float().mean())
            print(
                f"    -> {target} ({len(track.times)} frames, {voiced:.0%} voiced)", file=sys.stderr
            )
        except (OSError, ValueError, TypeError) as error:
            failures += 1
            print(f"    failed: {error}", file=sys.stderr)
    if failures:
        print(f"{failures} of {len(args.audio)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


def run_demo(steps: int, kernel: str, plot_path: str | None) -> int:
    if steps < 1:
        print(f"foldpitch demo: --steps must be a positive integer, got {steps}", file=sys.stderr)
        return 2
    sample_rate, hop = 16000, 160
    f0 = vibrato_f0(220.0, 6.0, 100.0, sample_rate, sample_rate)
    audio = harmonic_tone(f0, sample_rate)
    n_frames = sample_rate // hop
    start = hz_to_log2_period(torch.full((n_frames,), 220.0 / 1.1), sample_rate)
    envelope = start.clone().requires_grad_()
    optimiser = torch.optim.Adam([envelope], lr=0.01)
    max_period = sample_rate / 150
    losses = []
    began = time.perf_counter()
    for _ in range(steps):
        optimiser.zero_grad()
        loss = dense_fold_loss(envelope, audio, hop, kernel=kernel, max_period=max_period)
        loss.backward()
        optimiser.step()
        losses.append(float(loss.detach()))
    elapsed = time.perf_counter() - began

    fitted_hz = log2_period_to_hz(envelope.detach(), sample_rate)
    true_hz = f0[::hop][:n_frames].float()
    # The loss sees nothing within half a maximum period of the ends.
    inner = slice(
        math.ceil(max_period / 2 / hop) + 1, n_frames - math.ceil(max_period / 2 / hop) - 1
    )
    cents = 1200 * torch.log2(fitted_hz / true_hz)
    print("foldpitch demo: 1 s tone, 220 Hz with a 6 Hz +-100 cent vibrato, start 10 % flat")
    print(
        f"{steps} Adam steps on the dense fold-alignment loss ({kernel} reads), {elapsed:.2f} s\n"
    )
    print("| time (s) | true f0 (Hz) | fitted f0 (Hz) | error (cents) |")
    print("|---:|---:|---:|---:|")
    for frame in range(inner.start, inner.stop, 10):
        print(
            f"| {frame * hop / sample_rate:.2f} | {float(true_hz[frame]):.2f} "
            f"| {float(fitted_hz[frame]):.2f} | {float(cents[frame]):+.2f} |"
        )
    rms = float(cents[inner].square().mean().sqrt())
    start_cents = 1200 * torch.log2(220 / 1.1 / true_hz[inner])
    start_rms = float(start_cents.square().mean().sqrt())
    print(f"\nRMS error over the frames the loss sees: {rms:.2f} cents (start: {start_rms:.0f})")
    if plot_path:
        _plot_demo(plot_path, hop / sample_rate, true_hz, fitted_hz, losses)
        print(f"figure written to {plot_path}")
    return 0


def _plot_demo(path, frame_seconds, true_hz, fitted_hz, losses) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    times = torch.arange(len(true_hz)) * frame_seconds
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.5))
    left.plot(times, true_hz, label="true f0", linewidth=3, alpha=0.5)
    left.plot(times, fitted_hz, label="fitted", linewidth=1)
    left.set(xlabel="time (s)", ylabel="f0 (Hz)", title="envelope fitted by Adam")
    left.legend()
    right.semilogy(losses)
    right.set(xlabel="Adam step", ylabel="dense fold loss (energy-normalised)", title="loss")
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    sys.exit(main())
