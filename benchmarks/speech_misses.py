"""Why the network misses on speech: the network, or what it is trained against?

    python benchmarks/speech_misses.py --write

On the dev speech sets only (``festival-dev``: WORLD resynthesis of the dev Festival
voices; ``speech-dev``: held-out espeak-ng voices; clean and at 10 dB), every labelled-voiced
frame is scored five ways, each as RPA* (within 50 cents of the label, whatever the
voicing decision; ``benchmarks.accuracy.metrics.evaluate``):

- **network**: ``foldpitch.predict`` with the shipped network (Viterbi decoder);
- **training target**: each frame's cheapest bin of
  :func:`foldpitch.loss.candidate_fold_costs`, the table the network's distribution is
  trained towards (a constant period over a 20 ms window);
- **the chirped training target**: the same table with ``chirps=CHIRPS``: each frame is
  also read on windows warped for a period gliding at ±20 and ±40 cents per frame, and
  each bin costs its cheapest reading (label-free);
- **the training target on warped windows**: the same table read on the audio around
  each frame time-warped so that a period moving as a given curve says becomes constant
  (:func:`warped_target`; the frame's own period value is still measured), with the
  curve's slope from the fold-loss fit started at the network (label-free) or from the
  label (an oracle for the slope alone);
- **fold optimum near the label**: :func:`foldpitch.fit.fit_envelope` started at the
  label (100 Adam steps of the dense fold loss, which follows a moving period): where
  the objective itself, measured along a moving envelope, puts the pitch;
- **SwiftF0** (when installed), trained with labels, for scale;

and, on the frames the network misses, how often the dense fold loss of the label's
envelope is lower than that of the network's (the frame's periodicity, 1 - its
energy-normalised fold loss, is higher): if the objective preferred the network's wrong
value, no amount of training on it would help.
"""

from __future__ import annotations

import argparse
import functools
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import the benchmarks package
    sys.path.insert(0, str(ROOT))

SETS = ("festival-dev", "speech-dev")
FMIN, FMAX = 50.0, 1100.0
FIT_STEPS = 100
WARP_HALF = 700  # samples each side of a frame: the table's two 20 ms windows fit
SPEEDS = (25.0, 50.0, 100.0)  # cents per frame: the edges of the label-speed buckets
CHIRPS = (20.0, 40.0)  # the chirped table's slopes, cents per frame (chosen on these sets)


def warped_target(audio: np.ndarray, f0: np.ndarray, net) -> np.ndarray:
    """Each frame's cheapest bin of the training table (:func:`candidate_fold_costs`),
    read on the audio around the frame time-warped by the relative period curve of
    ``f0`` (Hz per network frame, ``(n,)``): time runs at ``P(t) / P(frame)``, so a period
    that moves as ``f0`` says becomes constant while its value at the frame is kept, and
    the constant-period table measures that value. Returns Hz ``(n,)``."""
    rate, hop = net.sample_rate, net.hop_length
    samples = np.arange(len(audio))
    log_period = np.interp(samples, np.arange(len(f0)) * hop, np.log(rate / f0))
    centre = np.minimum(np.arange(len(f0)) * hop, len(audio) - 1)
    reference = log_period[centre]
    forward, backward = [centre.astype(np.float64)], [centre.astype(np.float64)]
    for _ in range(WARP_HALF):  # one warped sample per step, all frames at once
        step = np.exp(np.interp(forward[-1], samples, log_period) - reference)
        forward.append(forward[-1] + step)
        step = np.exp(np.interp(backward[-1], samples, log_period) - reference)
        backward.append(backward[-1] - step)
    positions = np.stack(backward[:0:-1] + forward, axis=1)  # (n, 2 * WARP_HALF + 1)
    segments = np.interp(positions, samples, audio, left=0.0, right=0.0)
    return table_target(segments, net, WARP_HALF, 2)[:, 1]  # frame 1: the centre


@functools.cache
def table_settings() -> dict:
    """The table settings of the objective the shipped network was trained with (its
    checkpoint's resolved config)."""
    from foldpitch.model import load_pitchnet
    from foldpitch.predict import DEFAULT_CHECKPOINT

    loss = load_pitchnet(DEFAULT_CHECKPOINT)[1]["resolved_config"]["loss"]
    return {name: loss[name] for name in ("submultiple_margin", "upsample", "time_symmetric")}


def table_target(
    audio: np.ndarray, net, hop: int, n_frames: int, chirps: tuple[float, ...] = ()
) -> np.ndarray:
    """The centre, in Hz, of each frame's cheapest bin of the training table
    (:func:`candidate_fold_costs` with the network's bins and the table settings of the
    objective the shipped network was trained with; ``chirps`` as given) of
    ``audio`` ``(..., time)``: ``(..., n_frames)``."""
    import torch

    from foldpitch.loss import candidate_fold_costs

    audio = torch.as_tensor(audio, dtype=torch.float32)
    edges = net.log2_period_edges.detach().cpu()
    costs = candidate_fold_costs(audio, edges, hop, n_frames, **table_settings(), chirps=chirps)
    centres = torch.exp2((edges.double()[1:] + edges.double()[:-1]) / 2)
    return (net.sample_rate / centres[costs.argmin(-1)]).numpy()


def analyse(clip, net, swift) -> dict:
    """The scores of one clip (see the module doc); the clip must be at the network's
    sample rate and on its 10 ms grid."""
    import torch

    from benchmarks.accuracy.metrics import evaluate
    from foldpitch.fit import fit_envelope
    from foldpitch.predict import predict

    rate, hop = net.sample_rate, net.hop_length
    grid = np.arange(len(clip.times)) * hop / rate
    if clip.sample_rate != rate or not np.allclose(clip.times, grid):
        raise ValueError(
            f"clip {clip.name}: expected {rate} Hz, frames every {hop / rate} s from 0"
        )
    times, label = clip.times, clip.f0_hz
    voiced = label > 0

    def rpa(f0):
        return evaluate(times, label, times, f0)["raw_pitch_accuracy"]

    result = predict(clip.audio, rate, net, fmin=FMIN, fmax=FMAX, voicing_threshold=1e-6)
    network = result.f0.numpy().astype(np.float64)[: len(times)]

    audio = torch.as_tensor(clip.audio, dtype=torch.float32)
    target = table_target(clip.audio, net, hop, len(times))
    chirped = table_target(clip.audio, net, hop, len(times), CHIRPS)

    def fold(f0, steps):
        start = torch.as_tensor(f0, dtype=torch.float32)
        track = fit_envelope(
            audio, rate, FMIN, FMAX, hop / rate, init_f0=start, coarse_steps=0, fine_steps=steps
        )
        return track.periodicity.numpy()[: len(times)], track.f0.numpy()[: len(times)]

    with_label = np.where(voiced, label, network)  # the network's values between voiced stretches
    periodicity_network, _ = fold(network, 0)
    periodicity_label, _ = fold(with_label, 0)
    _, optimum = fold(with_label, FIT_STEPS)
    _, fitted = fold(network, FIT_STEPS)
    # the label's slope (an oracle: its relative period curve, not its values)
    filled = np.interp(np.arange(len(label)), np.flatnonzero(voiced), label[voiced])

    cents = 1200 * np.abs(np.log2(network[voiced] / label[voiced]))
    missed = cents > 50
    row = {
        "voiced": int(voiced.sum()),
        "missed": int(missed.sum()),
        "network": rpa(network),
        "target": rpa(target),
        "chirped": rpa(chirped),
        "optimum": rpa(optimum.astype(np.float64)),
        "warped_fit": rpa(warped_target(clip.audio, fitted.astype(np.float64), net)),
        "warped_label": rpa(warped_target(clip.audio, filled, net)),
        "label_preferred": int(
            (periodicity_label[voiced][missed] > periodicity_network[voiced][missed]).sum()
        ),
    }
    # how fast the label moves at each voiced frame (cents per frame, central
    # difference within a voiced stretch; a stretch's ends count as fast)
    log_label = np.where(voiced, 1200 * np.log2(np.where(voiced, label, 1.0)), np.nan)
    speed = np.nan_to_num(np.abs(np.gradient(log_label)), nan=np.inf)[voiced]
    bucket = np.digitize(speed, SPEEDS)
    target_missed = 1200 * np.abs(np.log2(target[voiced] / label[voiced])) > 50
    for k in range(len(SPEEDS) + 1):
        inside = bucket == k
        row[("frames", k)] = int(inside.sum())
        row[("network_missed", k)] = int((missed & inside).sum())
        row[("target_missed", k)] = int((target_missed & inside).sum())
    if swift is not None:
        track = swift(clip.audio, rate, FMIN, FMAX)
        guess = track.guess_hz if track.guess_hz is not None else track.f0_hz
        row["swift-f0"] = evaluate(times, label, track.times, guess)["raw_pitch_accuracy"]
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the dev clips")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="write results/speech_misses.md")
    args = parser.parse_args(argv)
    import torch

    import foldpitch
    from benchmarks.accuracy.methods import MethodUnavailable, swift_f0
    from benchmarks.choose_checkpoint import condition_label, dev_clips

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    clips = [c for c in dev_clips(SETS, args.cache) if c.set in SETS]
    net = foldpitch.load()
    swift = swift_f0
    try:
        swift_f0(np.zeros(16000, np.float32), 16000, FMIN, FMAX)
    except MethodUnavailable as error:
        print(f"SwiftF0 left out: {error}", file=sys.stderr)
        swift = None
    rows: dict[tuple, list] = {}
    for clip in clips:
        rows.setdefault((clip.set, clip.snr_db), []).append(analyse(clip, net, swift))
        print(".", end="", flush=True, file=sys.stderr)
    print(file=sys.stderr)

    command = " ".join(sys.argv[1:] if argv is None else argv)
    columns = ["network", "target", "chirped", "warped_fit", "warped_label", "optimum"]
    columns += ["swift-f0"] if swift else []
    titles = {
        "network": "network",
        "target": "training target",
        "chirped": "training target, chirped",
        "warped_fit": "target, warped by the fit's slope",
        "warped_label": "target, warped by the label's slope",
        "optimum": "fold optimum near the label",
        "swift-f0": "SwiftF0",
    }
    lines = [
        "# Speech misses: the network or its training target?",
        "",
        f"`python benchmarks/speech_misses.py {command}` ({len(clips)} dev clips,"
        f" {time.perf_counter() - started:.0f} s, torch {torch.__version__}). RPA\\*, mean"
        " over clips; see the script's docstring for each column.",
        "",
        "| dev set, condition | voiced frames | "
        + " | ".join(titles[c] for c in columns)
        + " | network misses | label's fold loss lower there |",
        "|---|---:|" + "---:|" * (len(columns) + 2),
    ]
    keys = sorted(rows, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
    for key in keys:
        items = rows[key]
        missed = sum(r["missed"] for r in items)
        preferred = sum(r["label_preferred"] for r in items)
        cells = [f"{np.mean([r[c] for r in items]):.3f}" for c in columns]
        share = f"{preferred / missed:.0%}" if missed else "-"
        lines.append(
            f"| {condition_label(key)} | {sum(r['voiced'] for r in items)} | "
            + " | ".join(cells)
            + f" | {missed} | {share} |"
        )
    edges = (0,) + SPEEDS + (math.inf,)
    names = [
        f"{lo:g}-{hi:g}" if hi < math.inf else f"> {lo:g}"
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
    ]
    lines += [
        "",
        "Misses by how fast the label moves (cents per 10 ms frame; the ends of a voiced"
        " stretch count as fast): share of the voiced frames, then the network's and the"
        " training target's miss rates there.",
        "",
        "| dev set, condition | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key in keys:
        items = rows[key]
        voiced = sum(r["voiced"] for r in items)
        cells = []
        for k in range(len(names)):
            frames = sum(r[("frames", k)] for r in items)
            network = sum(r[("network_missed", k)] for r in items) / max(frames, 1)
            target = sum(r[("target_missed", k)] for r in items) / max(frames, 1)
            cells.append(f"{frames / voiced:.0%}: {network:.0%} / {target:.0%}")
        lines.append(f"| {condition_label(key)} | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        (ROOT / "benchmarks" / "results" / "speech_misses.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
