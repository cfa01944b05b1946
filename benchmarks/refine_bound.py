"""How far may ``refine=True`` move a frame? Frames turned wrong and right per bound.

``refine=True`` (``foldpitch.predict``) moves no frame's f0 further than
``REFINE_MAX_CENTS`` from the network's. A frame the network had within ``50 - bound``
cents of the label stays right whatever the fit does; a larger bound lets the fit sharpen
more (the fine error on tones) and bring back more frames the network had just outside
50 cents, but also push more frames it had just inside out. This script measures that
trade on the dev sets only (``benchmarks.choose_checkpoint.dev_clips``, plus the dev
instruments built again with other seeds, dry and in rooms: more notes where the dev
instruments alone turn only a handful of frames either way):

- per dev set and condition, for each bound: the labelled-voiced frames the refinement
  turned wrong (network within 50 cents, refined not) and right (the other way round);
- the fine pitch error on the dev tones (``benchmarks.accuracy.metrics``, mean |cents|
  over voiced frames within 50, mean over clips), with Praat's in the same run.

``python benchmarks/refine_bound.py --cache DEV.pkl --write`` writes
``benchmarks/results/refine_bound.md`` (about 25 min on one thread for two bounds, most
of it the refinement of the extra instruments; the clips are built on the first run and
kept in the ``--cache`` and ``--extra-cache`` pickles).
"""

from __future__ import annotations

import argparse
import importlib
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import the benchmarks package
    sys.path.insert(0, str(ROOT))

FMIN, FMAX = 50.0, 1100.0
RESULTS = ROOT / "benchmarks" / "results" / "refine_bound.md"


def extra_instrument_clips(seeds, cache: Path | None) -> list:
    """``instruments-dev`` and ``instruments-dev-rooms`` with other seeds; their set
    names get a ``+`` so they are counted apart from the seed-0 dev sets."""
    import dataclasses

    if cache is not None and cache.exists():
        with cache.open("rb") as file:
            return pickle.load(file)
    from benchmarks.accuracy.realistic import build_instrument_clips

    clips = []
    for seed in seeds:
        for name in ("instruments-dev", "instruments-dev-rooms"):
            built = build_instrument_clips(name, seed=seed)
            clips += [dataclasses.replace(c, set=c.set + "+") for c in built]
    if cache is not None:
        with cache.open("wb") as file:
            pickle.dump(clips, file)
    return clips


def frame_errors(clip, result) -> np.ndarray:
    """Cents from the label on the clip's labelled-voiced frames (``(V,)``)."""
    f0 = np.interp(clip.times, result.times.numpy(), result.f0.numpy())
    voiced = clip.f0_hz > 0
    return 1200 * np.log2(f0[voiced] / clip.f0_hz[voiced])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the dev clips")
    parser.add_argument("--extra-cache", type=Path, default=None, help="pickle, extra seeds")
    parser.add_argument("--extra-seeds", default="1,2,3", help="'' for none")
    parser.add_argument("--bounds", default="25,18", help="cents, comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args(argv)
    import torch

    from benchmarks.accuracy.methods import praat
    from benchmarks.accuracy.metrics import evaluate
    from benchmarks.choose_checkpoint import condition_label, dev_clips

    predict_module = importlib.import_module("foldpitch.predict")
    torch.set_num_threads(args.threads)
    bounds = [float(b) for b in args.bounds.split(",")]
    seeds = [int(s) for s in args.extra_seeds.split(",") if s.strip()]
    started = time.perf_counter()
    clips = dev_clips(cache=args.cache) + extra_instrument_clips(seeds, args.extra_cache)
    counts: dict[tuple, np.ndarray] = {}  # (set, snr) -> [voiced, lost_b..., gained_b...]
    fine: dict[tuple, list] = {}  # (snr, method) -> per-clip fine errors on tones-dev
    default_bound = predict_module.REFINE_MAX_CENTS
    options = dict(fmin=FMIN, fmax=FMAX)
    try:
        for clip in clips:
            plain = predict_module.predict(clip.audio, clip.sample_rate, **options)
            right = np.abs(frame_errors(clip, plain)) < 50
            row = np.zeros(1 + 2 * len(bounds))
            row[0] = len(right)
            for i, bound in enumerate(bounds):
                predict_module.REFINE_MAX_CENTS = bound
                refined = predict_module.predict(
                    clip.audio, clip.sample_rate, refine=True, **options
                )
                right_after = np.abs(frame_errors(clip, refined)) < 50
                row[1 + i] = (right & ~right_after).sum()
                row[1 + len(bounds) + i] = (~right & right_after).sum()
                if clip.set == "tones-dev":
                    f0 = torch.where(refined.voiced, refined.f0, 0).numpy()
                    metrics = evaluate(clip.times, clip.f0_hz, refined.times.numpy(), f0)
                    fine.setdefault((clip.snr_db, bound), []).append(
                        metrics["fine_pitch_error_cents"]
                    )
            if clip.set == "tones-dev":
                track = praat(clip.audio, clip.sample_rate, FMIN, FMAX)
                metrics = evaluate(clip.times, clip.f0_hz, track.times, track.f0_hz)
                fine.setdefault((clip.snr_db, "praat"), []).append(
                    metrics["fine_pitch_error_cents"]
                )
            key = (clip.set, clip.snr_db)
            counts[key] = counts.get(key, 0) + row
            print(".", end="", flush=True, file=sys.stderr)
    finally:
        predict_module.REFINE_MAX_CENTS = default_bound
    print(file=sys.stderr)

    command = " ".join(sys.argv[1:] if argv is None else argv)
    heads = " | ".join(f"{b:g} cents: wrong / right" for b in bounds)
    lines = [
        "# How far may `refine=True` move a frame?",
        "",
        f"`python benchmarks/refine_bound.py {command}` ({len(clips)} dev clips,"
        f" {time.perf_counter() - started:.0f} s). Labelled-voiced frames that"
        " `refine=True` turned wrong (the network within 50 cents, refined not) and right,"
        f" for each bound on the move (the shipped bound: {default_bound:g} cents). Sets"
        " ending in `+`: the dev instruments built with seeds"
        f" {', '.join(map(str, seeds)) or '(none)'}.",
        "",
        f"| dev set, condition | voiced frames | {heads} |",
        "|---|---:|" + "---:|" * len(bounds),
    ]
    keys = sorted(counts, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
    for key in keys:
        row = counts[key].astype(int)
        cells = [f"{row[1 + i]} / {row[1 + len(bounds) + i]}" for i in range(len(bounds))]
        lines.append(f"| {condition_label(key)} | {row[0]} | {' | '.join(cells)} |")
    total = sum(counts.values()).astype(int)
    cells = [f"{total[1 + i]} / {total[1 + len(bounds) + i]}" for i in range(len(bounds))]
    lines.append(f"| **all** | {total[0]} | {' | '.join(cells)} |")
    lines += ["", "Fine pitch error on the dev tones (cents, mean over clips):", ""]
    lines += [
        "| condition | " + " | ".join(f"refined, {b:g} cents" for b in bounds) + " | Praat |",
        "|---|" + "---:|" * (len(bounds) + 1),
    ]
    for snr in sorted({k[0] for k in fine}, key=lambda s: -1 if s is None else s):
        cells = [f"{np.nanmean(fine[(snr, b)]):.2f}" for b in bounds]
        cells.append(f"{np.nanmean(fine[(snr, 'praat')]):.2f}")
        lines.append(f"| {condition_label(('tones-dev', snr))} | {' | '.join(cells)} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
