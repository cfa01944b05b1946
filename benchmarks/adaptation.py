"""Adapting the shipped network to domains it never heard, without labels.

Usage (from the repository root)::

    PYTHONPATH=src python -m benchmarks.adaptation                       # print the table
    PYTHONPATH=src python -m benchmarks.adaptation --write               # and the results file
    PYTHONPATH=src python -m benchmarks.adaptation --steps 60 --domains cello,babble

For each domain, audio is made in two disjoint parts -- different recordings, never the
same melody or sentence: an **adaptation part**, given to :func:`foldpitch.system.adapt`
as the user's unlabelled files (the same call as ``foldpitch adapt``), and a **labelled
test part**, built with the accuracy benchmark's own sets (``benchmarks/accuracy``:
``realistic.py`` for the Festival and soundfont clips, ``speech.py`` for WORLD analysis
and resynthesis, ``metrics.py``, ``methods.py``, ``run.run_method``). Then every method
runs on the test part in the same run: foldpitch before (the shipped network) and after
adaptation, SwiftF0 and FCPE (their wrappers in ``methods.py``; reported as unavailable
where this checkout or machine lacks them).

Domains (``--split test``, the default: all from the **test** rows of
:data:`foldpitch.data.splits.SPLITS`, so the shipped network never heard them; none of
the reserved sources):

- ``cello``: the cello family (GM program 42) in the allowed soundfonts, melodies
  rendered one note at a time, label = each note's nominal MIDI pitch
  (``realistic.build_instrument_clips``); test melodies seed 0, adaptation melodies
  seeds 1 and up.
- ``voice``: the Czech Festival voice ``czech_machac``, WORLD-resynthesised (label: the
  f0 given to WORLD); test: the benchmark's two fixed sentences
  (``realistic.FESTIVAL_SENTENCES``), adaptation: seeded sentences from the corpus word
  lists (``foldpitch.data._texts``), resynthesised the same way.
- ``room``: the Italian voice ``pc_diphone`` the same way, in one strongly reverberant
  room (``realistic.room_impulse_response``, the first draw with RT60 >= 0.8 s), the
  same room for both parts; label: the dry f0.
- ``babble``: the Catalan voice ``upc_ca_ona_hts`` the same way, with babble at 5 dB SNR:
  four training-split Festival voices speaking at once (other sentences for each part).

Metrics (``benchmarks.accuracy.metrics.evaluate``, mean over the test clips): RPA
(voicing counted: voiced and within 50 cents), OA, GPE (voiced and off by > 20 %), VFA.
Adaptation: steps, time on this machine, the held-back fold loss before and after (the
label-free figure ``foldpitch adapt`` prints). Forgetting: foldpitch's RPA on the accuracy
benchmark's quick tones (16 clips) and quick speech (ARCTIC and espeak-ng, <= 6 clips),
before and after each adaptation.

``--split dev`` builds the same four kinds from the **dev** rows, for choosing the
adaptation settings without looking at the test domains: the viola family (program
41), ``czech_ph`` as the voice and under babble, ``lp_diphone`` in another strongly
reverberant room; forgetting on tones drawn with seed 1 and three ``speech-dev``
espeak-ng voices (see :data:`SPLITS`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "adaptation.md"
FMIN, FMAX, HOP = 50.0, 1100.0, 0.01
RATE = 16000
COLUMNS = ("raw_pitch_accuracy", "overall_accuracy", "gross_pitch_error", "voicing_false_alarm")
LABELS = ("RPA", "OA", "GPE", "VFA")
BABBLE_VOICES = ("czech_dita", "ked_diphone", "suo_fi_lj_diphone", "hindi_NSK_diphone")
BABBLE_SNR_DB = 5.0
ROOM_MIN_RT60 = 0.8


# ------------------------------------------------------------------------ the domains


def _festival_world(voice: str, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(audio, times, f0)``: Festival speech resynthesised by WORLD, as the benchmark's
    speech sets are (``speech.analyse``, ``speech.resynthesise``)."""
    from foldpitch.data.speech import render_festival

    from .accuracy import speech

    audio = render_festival(text, voice, sample_rate=RATE)
    return speech.resynthesise(speech.analyse(np.asarray(audio, np.float64), RATE))


def _sentences(language: str, n: int, seed: int) -> list[str]:
    from foldpitch.data._texts import sentence

    rng = np.random.default_rng([seed, 0xADA])
    return [sentence(rng, language, 6, 14) for _ in range(n)]


@dataclasses.dataclass(frozen=True)
class Sources:
    """What the four domains are made of in one split of :data:`SPLITS`."""

    cello: tuple[int, str]  # (GM program, name): the bowed-string family left out
    voice: str  # Festival voices, WORLD-resynthesised
    room: str
    babble: str
    room_key: int  # seeds the room draws
    babble_seed: int  # seeds the babble's sentences


SPLITS = {
    # the test rows of foldpitch.data.splits.SPLITS: report only
    "test": Sources((42, "cello"), "czech_machac", "pc_diphone", "upc_ca_ona_hts", 0xADA, 0),
    # the dev rows, another room: for choosing adaptation settings
    "dev": Sources((41, "viola"), "czech_ph", "lp_diphone", "czech_ph", 0xDE7, 5000),
}


def _voice_parts(voice: str, n_adapt: int, split: str, seed: int = 0):
    from foldpitch.data.speech import FESTIVAL_VOICES

    from .accuracy import realistic

    clips = realistic.build_festival_clips(f"festival-{split}", (None,), voices=[voice], seed=seed)
    language = FESTIVAL_VOICES[voice].language
    adapt = [_festival_world(voice, text)[0] for text in _sentences(language, n_adapt, seed)]
    return adapt, clips


def build_voice(n_adapt: int, split: str):
    return _voice_parts(SPLITS[split].voice, n_adapt, split)


def _room(split: str) -> np.ndarray:
    from .accuracy import realistic

    key = SPLITS[split].room_key
    for draw in range(100):
        rir, rt60 = realistic.room_impulse_response(np.random.default_rng([key, draw]), RATE)
        if rt60 >= ROOM_MIN_RT60:
            return rir
    raise RuntimeError("no room draw reached the RT60 asked for")


def _convolve(audio: np.ndarray, rir: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    wet = fftconvolve(np.asarray(audio, np.float64), rir)[: len(audio)]
    return (wet * 0.5 / max(float(np.abs(wet).max()), 1e-12)).astype(np.float32)


def build_room(n_adapt: int, split: str):
    adapt, clips = _voice_parts(SPLITS[split].room, n_adapt, split)
    rir = _room(split)
    adapt = [_convolve(a, rir) for a in adapt]
    clips = [dataclasses.replace(c, audio=_convolve(c.audio, rir), set="room") for c in clips]
    return adapt, clips


def _babble(n_samples: int, seed: int) -> np.ndarray:
    from foldpitch.data.speech import FESTIVAL_VOICES, render_festival

    mix = np.zeros(n_samples)
    for k, voice in enumerate(BABBLE_VOICES):
        language = FESTIVAL_VOICES[voice].language
        talk, texts = [], iter(_sentences(language, 50, seed * 31 + k))
        while sum(map(len, talk)) < n_samples:
            talk.append(render_festival(next(texts), voice, sample_rate=RATE))
        track = np.concatenate(talk)[:n_samples].astype(np.float64)
        mix += track / max(float(np.sqrt(np.mean(track**2))), 1e-12)
    return mix


def _with_babble(audio: np.ndarray, seed: int) -> np.ndarray:
    noise = _babble(len(audio), seed)
    level = np.sqrt(np.mean(np.asarray(audio, np.float64) ** 2))
    noise *= level / np.sqrt(np.mean(noise**2)) * 10 ** (-BABBLE_SNR_DB / 20)
    mixed = audio + noise
    return (mixed * 0.5 / np.abs(mixed).max()).astype(np.float32)


def build_babble(n_adapt: int, split: str):
    adapt, clips = _voice_parts(SPLITS[split].babble, n_adapt, split)
    offset = SPLITS[split].babble_seed
    adapt = [_with_babble(a, offset + 1000 + i) for i, a in enumerate(adapt)]  # other ...
    clips = [  # ... babble than the test part's
        dataclasses.replace(c, audio=_with_babble(c.audio, offset + i), set="babble")
        for i, c in enumerate(clips)
    ]
    return adapt, clips


def build_cello(n_adapt: int, split: str):
    from foldpitch.data.soundfont import find_soundfonts

    from .accuracy import realistic

    fonts = find_soundfonts()
    kwargs = dict(programs=[SPLITS[split].cello[0]], soundfonts=fonts)
    set_name = f"instruments-{split}"
    clips = realistic.build_instrument_clips(set_name, (None,), seed=0, **kwargs)
    adapt = []
    seed = 1
    while len(adapt) < n_adapt:
        parts = realistic.build_instrument_clips(set_name, (None,), seed=seed, **kwargs)
        adapt += [clip.audio for clip in parts]
        seed += 1
    return adapt[:n_adapt], clips


def describe(name: str, split: str) -> str:
    """One line on what domain ``name`` is in ``split``."""
    sources = SPLITS[split]
    return {
        "cello": f"{sources.cello[1]} (soundfont, {split} family), one note at a time",
        "voice": f"voice {sources.voice} (Festival, {split}), WORLD",
        "room": f"voice {sources.room} in a room, RT60 >= {ROOM_MIN_RT60:g} s",
        "babble": f"voice {sources.babble}, babble at {BABBLE_SNR_DB:g} dB",
    }[name]


DOMAINS = {"cello": build_cello, "voice": build_voice, "room": build_room, "babble": build_babble}
"""Domain name -> ``build(n_adapt, split)``: the adaptation audio and the labelled test
clips."""


# -------------------------------------------------------------------------- the run


def _mean(rows, key) -> float:
    values = [scores[key] for _, scores, _ in rows if not math.isnan(scores[key])]
    return float(np.mean(values)) if values else math.nan


def _foldpitch(checkpoint: Path):
    """``methods.py``'s foldpitch method, on ``checkpoint``."""
    from .accuracy import methods

    os.environ[methods.FOLDPITCH_CHECKPOINT_ENV] = str(checkpoint)
    return methods.METHODS["foldpitch"]


def _score(method, clips) -> tuple[dict[str, float] | None, str | None]:
    from .accuracy.run import run_method

    run = run_method("method", method, clips, FMIN, FMAX, HOP)
    if run.unavailable:
        return None, run.unavailable
    return {key: _mean(run.rows, key) for key in COLUMNS}, None


def _unavailable(reason: str):
    from .accuracy.methods import MethodUnavailable

    def method(*args, **kwargs):
        raise MethodUnavailable("method", reason)

    return method


def _general_clips(split: str) -> dict[str, list]:
    """The clips that measure forgetting: the quick tones and speech of the accuracy
    benchmark (test), or the same kinds from its dev sets (dev)."""
    from .accuracy import data as tone_data
    from .accuracy import speech

    if split == "test":
        return {"tones": tone_data.quick_clips(), "speech": speech.quick_speech_clips()}
    dev_speech = speech.build_speech_clips(
        speech.SPEECH_SNRS,
        parts=("espeak",),
        voices=speech.DEV_VOICES[:3],
        seed=speech.DEV_SEED,
        max_seconds=speech.QUICK_SECONDS,
        set_name="speech-dev",
    )
    return {"tones": tone_data.quick_clips(seed=1), "speech": dev_speech}


def run(args) -> str:
    import torch

    from foldpitch.predict import DEFAULT_CHECKPOINT
    from foldpitch.system import HELD_BACK, adapt

    from .accuracy import methods

    torch.set_num_threads(args.threads)
    shipped = Path(DEFAULT_CHECKPOINT)
    others = {
        name: methods.METHODS.get(name) or _unavailable("not registered in methods.py here")
        for name in ("swift-f0", "fcpe")
    }
    general = _general_clips(args.split)
    base_general = {
        name: _score(_foldpitch(shipped), clips)[0]["raw_pitch_accuracy"]
        for name, clips in general.items()
    }
    rows, lines, notes = [], [], []
    work = Path(tempfile.mkdtemp(prefix="foldpitch-adaptation-"))
    for name in args.domains:
        started = time.perf_counter()
        try:
            adapt_audio, clips = DOMAINS[name](args.n_adapt, args.split)
        except Exception as error:  # noqa: BLE001 - a missing program skips the domain
            notes.append(f"- {name}: skipped ({type(error).__name__}: {error})")
            continue
        build_seconds = time.perf_counter() - started
        folder = work / name
        folder.mkdir()
        import soundfile as sf

        files = []
        for i, audio in enumerate(adapt_audio):
            files.append(folder / f"{i:03d}.wav")
            sf.write(files[-1], audio, RATE)
        adapted = work / f"{name}.ckpt"
        try:
            summary = adapt(
                files,
                adapted,
                steps=args.steps,
                batch_size=args.batch_size,
                learning_rate=args.learning_rate,
                warmup_steps=args.warmup_steps,
                validate_every=args.validate_every,
                held_back_items=args.held_back_items,
                monitoring_items=0,
                train_voicing=args.train_voicing,
                seed=args.seed,
                progress_bar=False,
            )
        except (ValueError, RuntimeError) as error:  # refused, or collapsed: reported
            notes.append(f"- {name}: adaptation refused ({type(error).__name__}: {error})")
            continue
        scores = {
            "foldpitch, shipped": _score(_foldpitch(shipped), clips),
            "foldpitch, adapted": _score(_foldpitch(adapted), clips),
            **{method: _score(function, clips) for method, function in others.items()},
        }
        forgetting = {
            set_name: _score(_foldpitch(adapted), set_clips)[0]["raw_pitch_accuracy"]
            - base_general[set_name]
            for set_name, set_clips in general.items()
        }
        adapt_seconds = sum(len(a) for a in adapt_audio) / RATE
        test_seconds = sum(len(c.audio) for c in clips) / RATE
        key = f"val/{HELD_BACK}/loss"
        rows.append((name, scores, summary, forgetting, adapt_seconds, test_seconds, len(clips)))
        stopped = f"; {summary['stop_reason']}" if summary["stop_reason"] else ""
        notes.append(
            f"- {name}: data built in {build_seconds:.0f} s; held-back fold loss "
            f"{summary['before'][key]:.4f} -> {summary['after'][key]:.4f} (best at step "
            f"{summary['best_step']}){stopped}"
        )
        print(f"done: {name}", file=sys.stderr, flush=True)

    header = "| domain | adaptation audio / test audio | method | " + " | ".join(LABELS) + " |"
    lines += [header, "| --- | --- | --- |" + " ---: |" * len(LABELS)]
    for name, scores, _, _, adapt_s, test_s, n_clips in rows:
        first = True
        for method, (values, reason) in scores.items():
            cells = [f"{values[k]:.3f}" for k in COLUMNS] if values else [f"unavailable: {reason}"]
            if not values:
                cells += [""] * (len(COLUMNS) - 1)
            where = (
                f"{describe(name, args.split)} | {adapt_s:.0f} s / {test_s:.0f} s ({n_clips} clips)"
                if first
                else " | "
            )
            lines.append(f"| {where} | {method} | " + " | ".join(cells) + " |")
            first = False
    lines += [
        "",
        "| domain | steps | adaptation time | held-back fold loss before -> after | "
        "tones RPA change | speech RPA change |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, _, summary, forgetting, *_ in rows:
        key = f"val/{HELD_BACK}/loss"
        lines.append(
            f"| {name} | {summary['steps']} | {summary['seconds']:.0f} s | "
            f"{summary['before'][key]:.4f} -> {summary['after'][key]:.4f} | "
            f"{100 * forgetting['tones']:+.1f} pt | {100 * forgetting['speech']:+.1f} pt |"
        )
    general_line = (
        f"Shipped network on the general sets: tones RPA {base_general['tones']:.3f}, "
        f"speech RPA {base_general['speech']:.3f}."
    )
    return "\n".join(lines + ["", general_line, "", *notes])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domains", default=",".join(DOMAINS), help="comma-separated")
    parser.add_argument("--n-adapt", type=int, default=12, help="adaptation recordings")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--warmup-steps", type=int, default=5)
    parser.add_argument("--validate-every", type=int, default=10)
    parser.add_argument("--held-back-items", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--split",
        choices=sorted(SPLITS),
        default="test",
        help="test: the domains reported; dev: other voices, family and room, to choose "
        "settings on (default: test)",
    )
    parser.add_argument(
        "--train-voicing", action="store_true", help="also train the voicing output"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--write", action="store_true", help=f"also write {RESULTS}")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args(argv)
    args.domains = [d.strip() for d in args.domains.split(",") if d.strip()]
    unknown = sorted(set(args.domains) - set(DOMAINS))
    if unknown:
        parser.error(f"unknown domains {unknown}; choose from {sorted(DOMAINS)}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    table = run(args)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    header = [
        "# Adapting to unheard domains (benchmarks/adaptation.py)",
        "",
        f"`PYTHONPATH=src python -m benchmarks.adaptation {' '.join(sys.argv[1:])}`: "
        f"{args.steps} steps of {args.batch_size} x 1 s, learning rate {args.learning_rate:g}, "
        f"{args.n_adapt} adaptation recordings per domain; {platform.processor() or 'CPU'}, "
        f"torch threads {args.threads}, load average {load:.1f} at the end; "
        f"total {time.perf_counter() - started:.0f} s.",
        "",
    ]
    text = "\n".join(header) + "\n" + table + "\n"
    print(text)
    for path in ([RESULTS] if args.write else []) + ([Path(args.out)] if args.out else []):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
