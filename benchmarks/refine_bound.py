"""Which frames may ``refine=True`` move, and how far? Frames turned wrong and right.

``refine=True`` (``foldpitch.predict``) takes a frame's fitted f0 only where the fitted
envelope's periodicity reaches a floor (the fold loss clearly periodic), and moves no
frame further from the network's than a bound in cents (``REFINE_BOUNDS``: one bound per
floor, a larger move where the periodicity is higher). A
frame the network had within ``50 - bound`` cents of the label stays right whatever the
fit does; a larger bound or a lower floor lets the fit sharpen more (the fine error on
tones) and bring back more frames the network had just outside 50 cents, but also push
more frames it had just inside out. This script measures that trade for every pair of
``--bounds`` and ``--floors`` (and for each of ``--tiers``, settings with several floors)
on the dev sets only (``benchmarks.choose_checkpoint.dev_clips``
and ``festival-dev-more`` of ``benchmarks/decoder_settings.py``; optionally the dev
instruments built again with other seeds, dry and in rooms, ``--extra-seeds``):

- per dev set and condition, for each setting: the labelled-voiced frames the refinement
  turned wrong (network within 50 cents, refined not) and right (the other way round);
- the fine pitch error on the dev tones (``benchmarks.accuracy.metrics``, mean |cents|
  over voiced frames within 50, mean over clips), with Praat's in the same run.

Each clip's fit runs once; the settings only change which fitted values are kept.

``python benchmarks/refine_bound.py --cache DEV.pkl --more-cache MORE.pkl --write``
writes ``benchmarks/results/refine_bound.md`` (about 10 min on 2 threads; the clips are
built on the first run and kept in the cache pickles).
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


def _memoised(fit):
    """A stand-in for ``predict._refinement_proposals`` (``fit``) that fits each clip
    once: the settings of one clip reuse its proposals (``clear`` before the next)."""
    memo: list = []

    def proposals(*args, **kwargs):
        if not memo:
            memo.append(fit(*args, **kwargs))
        return memo[0]

    proposals.clear = memo.clear
    return proposals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the dev clips")
    parser.add_argument("--more-cache", type=Path, default=None, help="festival-dev-more")
    parser.add_argument("--extra-cache", type=Path, default=None, help="pickle, extra seeds")
    parser.add_argument("--extra-seeds", default="", help="e.g. 1,2,3; '' for none")
    parser.add_argument("--bounds", default="12,18", help="cents, comma-separated")
    parser.add_argument("--floors", default="0,0.9,0.92,0.94", help="periodicity floors")
    parser.add_argument(
        "--tiers",
        default="",
        help="settings with several floors, e.g. '0.92:12+0.96:25' (floor:cents joined by"
        " '+'), several separated by ','",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS.name}")
    args = parser.parse_args(argv)
    import torch

    from benchmarks.accuracy.methods import praat
    from benchmarks.accuracy.metrics import evaluate
    from benchmarks.choose_checkpoint import condition_label, dev_clips
    from benchmarks.decoder_settings import more_clips

    predict_module = importlib.import_module("foldpitch.predict")
    torch.set_num_threads(args.threads)
    settings = [
        ((float(f), float(b)),) for b in args.bounds.split(",") for f in args.floors.split(",")
    ]
    settings += [_parse_tiers(text) for text in args.tiers.split(",") if text.strip()]
    seeds = [int(s) for s in args.extra_seeds.split(",") if s.strip()]
    started = time.perf_counter()
    clips = dev_clips(cache=args.cache) + more_clips(args.more_cache)
    clips += extra_instrument_clips(seeds, args.extra_cache)
    counts: dict[tuple, np.ndarray] = {}  # (set, snr) -> [voiced, lost_s..., gained_s...]
    fine: dict[tuple, list] = {}  # (snr, setting or "praat") -> per-clip fine errors
    shipped = predict_module.REFINE_BOUNDS
    original = predict_module._refinement_proposals
    proposals = _memoised(original)
    options = dict(fmin=FMIN, fmax=FMAX)
    try:
        predict_module._refinement_proposals = proposals
        for clip in clips:
            plain = predict_module.predict(clip.audio, clip.sample_rate, **options)
            right = np.abs(frame_errors(clip, plain)) < 50
            row = np.zeros(1 + 2 * len(settings))
            row[0] = len(right)
            proposals.clear()
            for i, setting in enumerate(settings):
                predict_module.REFINE_BOUNDS = setting
                refined = predict_module.predict(
                    clip.audio, clip.sample_rate, refine=True, **options
                )
                right_after = np.abs(frame_errors(clip, refined)) < 50
                row[1 + i] = (right & ~right_after).sum()
                row[1 + len(settings) + i] = (~right & right_after).sum()
                if clip.set == "tones-dev":
                    f0 = torch.where(refined.voiced, refined.f0, 0).numpy()
                    metrics = evaluate(clip.times, clip.f0_hz, refined.times.numpy(), f0)
                    fine.setdefault((clip.snr_db, setting), []).append(
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
        predict_module._refinement_proposals = original
        predict_module.REFINE_BOUNDS = shipped
    print(file=sys.stderr)
    text = _report(argv, clips, counts, fine, settings, shipped, seeds, started, condition_label)
    print(text)
    if args.write:
        RESULTS.write_text(text)
    return 0


def _parse_tiers(text: str) -> tuple[tuple[float, float], ...]:
    """``'0.92:12+0.96:25'`` -> ``((0.92, 12.0), (0.96, 25.0))`` (floor, cents)."""
    tiers = []
    for tier in text.split("+"):
        floor, _, cents = tier.partition(":")
        if not cents:
            raise SystemExit(f"--tiers: expected floor:cents joined by '+', got {text!r}")
        tiers.append((float(floor), float(cents)))
    return tuple(sorted(tiers))


def _label(setting) -> str:
    """``12 c, 0.92`` for one tier; ``12 c, 0.92 + 25 c, 0.96`` for several."""
    return " + ".join(f"{cents:g} c, {floor:g}" for floor, cents in setting)


def _report(argv, clips, counts, fine, settings, shipped, seeds, started, condition_label):
    """The results page: wrong / right per set and setting, the sets that lost frames,
    and the fine error on the dev tones."""
    command = " ".join(sys.argv[1:] if argv is None else argv)
    n = len(settings)
    heads = " | ".join(_label(s) for s in settings)
    lines = [
        "# Which frames may `refine=True` move, and how far?",
        "",
        f"`python benchmarks/refine_bound.py {command}` ({len(clips)} dev clips,"
        f" {time.perf_counter() - started:.0f} s). Labelled-voiced frames that"
        " `refine=True` turned wrong (the network within 50 cents, refined not) / right,"
        " for each setting: the bound on the move in cents, then the floor on the fitted"
        " periodicity below which a frame keeps the network's value (shipped when this"
        f" ran: {_label(shipped)}). Sets ending in `+`: the dev instruments built with seeds"
        f" {', '.join(map(str, seeds)) or '(none)'}.",
        "",
        f"| dev set, condition | voiced frames | {heads} |",
        "|---|---:|" + "---:|" * n,
    ]
    keys = sorted(counts, key=lambda k: (k[0], -1 if k[1] is None else k[1]))
    for key in keys:
        row = counts[key].astype(int)
        cells = [f"{row[1 + i]} / {row[1 + n + i]}" for i in range(n)]
        lines.append(f"| {condition_label(key)} | {row[0]} | {' | '.join(cells)} |")
    total = sum(counts.values()).astype(int)
    cells = [f"{total[1 + i]} / {total[1 + n + i]}" for i in range(n)]
    lines.append(f"| **all** | {total[0]} | {' | '.join(cells)} |")
    losing = [sum(counts[k][1 + i] > counts[k][1 + n + i] for k in keys) for i in range(n)]
    lines.append(
        "| dev sets and conditions that lost more frames than they gained | | "
        + " | ".join(map(str, losing))
        + " |"
    )
    lines += ["", "Fine pitch error on the dev tones (cents, mean over clips):", ""]
    lines += [
        "| condition | " + " | ".join(_label(s) for s in settings) + " | Praat |",
        "|---|" + "---:|" * (n + 1),
    ]
    for snr in sorted({k[0] for k in fine}, key=lambda s: -1 if s is None else s):
        cells = [f"{np.nanmean(fine[(snr, s)]):.2f}" for s in settings]
        cells.append(f"{np.nanmean(fine[(snr, 'praat')]):.2f}")
        lines.append(f"| {condition_label(('tones-dev', snr))} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
