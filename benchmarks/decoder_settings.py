"""Choose the decoder's settings on the dev sets, never on the test sets.

    python benchmarks/decoder_settings.py --cache DEV.pkl --more-cache MORE.pkl --write

Two settings of :mod:`foldpitch.predict` are tried on a grid, the network fixed (the
shipped one unless ``--checkpoint``):

- :data:`~foldpitch.predict.VITERBI_FREE_BINS`: moves of up to this many period bins
  between frames cost the Viterbi path nothing;
- :data:`~foldpitch.predict.LOCAL_MEAN_BINS`: a frame's f0 is the probability-weighted
  mean of the values of the bins within this many of the chosen one (0: the chosen
  bin's own value).

Each setting is scored by RPA* (the pitch guess on every labelled-voiced frame,
whatever the voicing decision; the decoder does not touch the voicing) on

- the dev sets of ``benchmarks/choose_checkpoint.py`` (speech-dev, festival-dev and
  instruments-dev, the latter two also in rooms, clean and at 10 dB; tones-dev), mean
  over sets and conditions, and
- ``festival-dev-more``: the two dev voices of :data:`foldpitch.data.splits.SPLITS`
  speaking :data:`MORE_SENTENCES` (six more per voice, written for this set), each
  WORLD-resynthesised at -3, 0 and +3 semitones as the benchmark's speech set; clean, at
  10 dB and in rooms (room draws of seed 100): 36 clips, 128 s per condition. The
  festival-dev set has 4 clips (18 s) per condition, too few to tell settings apart
  by a point on speech alone.

The choice: the best mean RPA* on the dev sets; ``festival-dev-more`` checks that it
holds on more speech (it must beat no free bins and no mean there, the first row). The
fine pitch error on the dev tones (cents) is shown too.

How much could any decoder give? A second table (:func:`top_k_oracle`) counts the
labelled-voiced frames where one of the network's ``k`` most probable bins (its value
read by the shipped local mean) is within 50 cents of the label, against the shipped
decoder's path: an upper bound for a decoder that chooses among those bins.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import pickle
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: import the benchmarks package
    sys.path.insert(0, str(ROOT))

FREE_BINS = (0, 1, 2)
MEAN_BINS = (0, 3, 5, 7)
ORACLE_KS = (1, 2, 3, 5)
MORE_SEED = 100  # seeds the noise and the rooms, apart from the benchmark's seed 0
MORE_SHIFTS = (-3.0, 0.0, 3.0)
MORE_SENTENCES = {
    "czech_ph": (
        "Ráno jsme jeli vlakem do Brna a cestou jsme četli noviny.",
        "Kolik stojí ten modrý svetr ve výloze?",
        "Moje babička peče nejlepší koláče v celé vesnici.",
        "Zítra bude pršet, vezmi si s sebou deštník.",
        "Proč jsi mi včera večer nezavolal?",
        "Na zahradě kvetou jabloně a v trávě skáčou ptáci.",
    ),
    "lp_diphone": (
        "Domani mattina andiamo al mercato a comprare la frutta.",
        "Scusi, a che ora parte l'ultimo treno per Firenze?",
        "Mia sorella suona il violino da quando era bambina.",
        "Il cielo era grigio e il vento soffiava forte sul mare.",
        "Perché non vieni a cena da noi sabato sera?",
        "Abbiamo camminato per ore lungo il fiume senza stancarci.",
    ),
}
"""Sentences for the two dev voices (Czech, Italian), none from the test sets'
:data:`benchmarks.accuracy.realistic.FESTIVAL_SENTENCES`."""


def more_clips(cache: Path | None = None) -> list:
    """The ``festival-dev-more`` clips (module doc), read from ``cache`` when it exists,
    else built (about a minute) and written there."""
    if cache is not None and cache.exists():
        with cache.open("rb") as file:
            return pickle.load(file)
    from benchmarks.accuracy import speech
    from benchmarks.accuracy.realistic import SAMPLE_RATE, _conditions
    from foldpitch.data.speech import render_festival
    from foldpitch.data.splits import festival_voices

    if set(MORE_SENTENCES) != set(festival_voices("dev")):
        raise RuntimeError("MORE_SENTENCES must cover exactly the dev voices of the split")
    clips = []
    for voice, texts in MORE_SENTENCES.items():
        for k, text in enumerate(texts):
            audio = render_festival(text, voice, sample_rate=SAMPLE_RATE)
            analysis = speech.analyse(np.asarray(audio, dtype=np.float64), SAMPLE_RATE)
            for shift in MORE_SHIFTS:
                dry, times, truth = speech.resynthesise(analysis, shift)
                f0_frames = speech.shifted_f0(analysis, shift)
                voiced = speech._voiced_samples(f0_frames, len(dry), SAMPLE_RATE)
                for room in (False, True):
                    clips += _conditions(
                        dry,
                        voiced,
                        times,
                        truth,
                        stem=f"{voice}-more{k}-{shift:+g}",
                        kind=voice,
                        variant=voice,
                        set_name="festival-dev-more" + ("-rooms" if room else ""),
                        snrs=(None, 10.0),
                        seed=MORE_SEED,
                        room=room,
                        sample_rate=SAMPLE_RATE,
                    )
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("wb") as file:
            pickle.dump(clips, file)
    return clips


def score(net, clips, free_bins: int, mean_bins: int) -> dict:
    """``{(set, snr): (RPA*, fine pitch error in cents)}``, means over the clips, with
    the decoder's settings set to ``free_bins`` and ``mean_bins`` for the call."""
    from benchmarks.accuracy.metrics import evaluate

    module = importlib.import_module("foldpitch.predict")  # the attribute is the function
    saved = module.VITERBI_FREE_BINS, module.LOCAL_MEAN_BINS
    module.VITERBI_FREE_BINS, module.LOCAL_MEAN_BINS = free_bins, mean_bins
    try:
        rows: dict[tuple, list] = {}
        for clip in clips:
            result = module.predict(
                clip.audio, clip.sample_rate, net, fmin=50.0, fmax=1100.0, voicing_threshold=1e-6
            )
            f0 = result.f0.numpy().astype(np.float64)
            scores = evaluate(clip.times, clip.f0_hz, result.times.numpy(), f0)
            row = (scores["raw_pitch_accuracy"], scores["fine_pitch_error_cents"])
            rows.setdefault((clip.set, clip.snr_db), []).append(row)
    finally:
        module.VITERBI_FREE_BINS, module.LOCAL_MEAN_BINS = saved
    return {key: tuple(np.nanmean(np.array(items), 0)) for key, items in rows.items()}


def top_k_oracle(net, clips, ks=ORACLE_KS) -> dict:
    """``{(set, snr): (path, top-k for k in ks)}``: the share of labelled-voiced frames
    (pooled over the clips) within 50 cents of the label for the shipped decoder's path
    and for the best of the network's ``k`` most probable bins of each frame."""
    import torch

    from foldpitch.predict import _allowed_bins, _frame_candidates, predict

    allowed = _allowed_bins(net, 50.0, 1100.0)
    counts: dict[tuple, np.ndarray] = {}
    for clip in clips:
        audio = torch.as_tensor(clip.audio, dtype=torch.float32)[None]
        with torch.inference_mode():
            out = net(audio - audio.mean())  # predict removes the DC offset too
        candidates, _ = _frame_candidates(net, out, allowed, max(ks))
        path = predict(clip.audio, clip.sample_rate, net, fmin=50.0, fmax=1100.0).f0
        n = min(len(clip.f0_hz), candidates["log2_periods"].shape[1], len(path))
        truth = clip.f0_hz[:n]
        voiced = truth > 0
        f0 = net.sample_rate / 2 ** candidates["log2_periods"][0, :n].double().numpy()
        off = np.abs(1200 * np.log2(f0[voiced] / truth[voiced, None]))  # (frames, k)
        path_off = np.abs(1200 * np.log2(path[:n].double().numpy()[voiced] / truth[voiced]))
        row = [voiced.sum(), (path_off < 50).sum()] + [(off[:, :k] < 50).any(1).sum() for k in ks]
        key = (clip.set, clip.snr_db)
        counts[key] = counts.get(key, 0) + np.array(row, dtype=np.float64)
    return {key: tuple(c[1:] / c[0]) for key, c in counts.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: the shipped network")
    parser.add_argument("--cache", type=Path, default=None, help="pickle of the dev clips")
    parser.add_argument("--more-cache", type=Path, default=None, help="festival-dev-more")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help="benchmarks/results/...md")
    args = parser.parse_args(argv)
    import torch

    from benchmarks.choose_checkpoint import condition_label, dev_clips
    from foldpitch.predict import LOCAL_MEAN_BINS, VITERBI_FREE_BINS, load

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    net = load(args.checkpoint, "cpu")
    label = "the shipped network" if args.checkpoint is None else Path(args.checkpoint).name
    groups = {
        "dev sets": dev_clips(cache=args.cache),
        "festival-dev-more": more_clips(args.more_cache),
    }
    results = {}
    for free, mean in itertools.product(FREE_BINS, MEAN_BINS):
        results[free, mean] = {g: score(net, clips, free, mean) for g, clips in groups.items()}
        print(f"free {free}, mean {mean}: done", flush=True)
    keys = {g: sorted(table, key=lambda k: (k[0], str(k[1]))) for g, table in results[0, 0].items()}
    header = ["free bins", "mean bins"]
    header += [f"{name}: mean RPA*" for name in groups]
    header += [condition_label(k) for name in groups for k in keys[name]]
    header += ["tones-dev clean FPE ¢"]
    command = " ".join(sys.argv[1:] if argv is None else argv)
    lines = [
        "# Decoder settings chosen on the dev sets",
        "",
        f"`python benchmarks/decoder_settings.py {command}` ({label}, "
        f"{time.perf_counter() - started:.0f} s). RPA* per dev set and condition; "
        f"shipped: free bins {VITERBI_FREE_BINS}, mean bins {LOCAL_MEAN_BINS}.",
        "",
        "| " + " | ".join(header) + " |",
        "|---|---|" + "---:|" * (len(header) - 2),
    ]
    for (free, mean), tables in results.items():
        cells = [str(free), str(mean)]
        cells += [f"{np.mean([v[0] for v in tables[n].values()]):.4f}" for n in groups]
        cells += [f"{tables[n][k][0]:.3f}" for n in groups for k in keys[n]]
        cells += [f"{tables['dev sets'][('tones-dev', None)][1]:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "How much could a decoder give (shipped settings): the share of labelled-voiced "
        "frames within 50 cents for the shipped path and for the best of each frame's "
        f"k most probable bins (an oracle), k = {', '.join(map(str, ORACLE_KS))}:",
        "",
        "| dev set, condition | path | " + " | ".join(f"best of {k}" for k in ORACLE_KS) + " |",
        "|---|" + "---:|" * (1 + len(ORACLE_KS)),
    ]
    for clips in groups.values():
        oracle = top_k_oracle(net, clips)
        for key in sorted(oracle, key=lambda k: (k[0], str(k[1]))):
            cells = " | ".join(f"{x:.3f}" for x in oracle[key])
            lines.append(f"| {condition_label(key)} | {cells} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        (ROOT / "benchmarks" / "results" / "decoder_settings.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
