"""The ``foldpitch`` command.

``foldpitch demo`` runs the shipped network on a built-in example (generated notes with
a known f0: vibrato, a glide, a rest, a low note in noise), prints a short table and
writes a figure. ``foldpitch demo --fit`` instead fits a period envelope to a vibrato
tone by gradient descent on the dense fold-alignment loss, starting 10 % off.

``foldpitch fit AUDIO...`` fits the envelope of each file (search, then refinement; see
:func:`foldpitch.fit.fit_envelope`) and writes one CSV per file
(``time,frequency,periodicity,voiced``) and, with ``--plot``, a figure.

``foldpitch stream`` reads raw PCM from standard input and writes one line per final
frame to standard output as it goes (``sox in.wav -t raw - | foldpitch stream``; see
:mod:`foldpitch.stream`).

``foldpitch predict PATH...`` runs the trained network (see :func:`foldpitch.predict.predict`)
over audio files, folders (searched recursively) and ``.txt`` lists of paths, and writes
one CSV (or JSON) per file next to it or under ``--out-dir``.

``foldpitch adapt DIR... --out my.ckpt`` fine-tunes the network on your own unlabelled
recordings (see :func:`foldpitch.system.adapt` and ``docs/adapting.md``).

``foldpitch export-onnx OUT.onnx`` writes the network as an ONNX file for onnxruntime
(see :mod:`foldpitch.export`).

``fit`` and ``predict``: multi-channel files are downmixed by averaging their channels; an input
that fails (missing, unsupported format, corrupt, unwritable output) is reported and the
others are still processed, with exit status 1 at the end; outputs are written to a
temporary file and renamed, so a crash never leaves a half-written one; an input whose
output already exists is skipped (and counted) unless ``--overwrite`` is given.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
from torch import Tensor

from ._optional import require
from .envelope import hz_to_log2_period, log2_period_to_hz
from .loss import dense_fold_loss
from .plot import plot_prediction
from .predict import DECODERS, SILENCE_TOP_DB
from .synth import glide_f0, harmonic_tone, vibrato_f0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="foldpitch", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="the shipped network on a built-in example")
    demo.add_argument(
        "--fit", action="store_true", help="fit an envelope directly instead (no network)"
    )
    demo.add_argument("--checkpoint", help="a .ckpt from scripts/train.py (default: shipped)")
    demo.add_argument("--steps", type=int, default=150, help="--fit: Adam steps (default: 150)")
    demo.add_argument("--kernel", default="cubic", choices=("linear", "cubic", "sinc"))
    demo.add_argument(
        "--plot",
        metavar="PNG",
        help="figure path (default: foldpitch-demo.png; --fit: none unless given)",
    )

    fit = commands.add_parser("fit", help="fit the f0 envelope of audio files directly")
    fit.add_argument("audio", nargs="+", help="audio files (multi-channel files are averaged)")
    fit.add_argument("--out-dir", default=".", help="where the CSVs go (default: .)")
    fit.add_argument("--fmin", type=float, default=50.0, help="lowest f0 in Hz (default: 50)")
    fit.add_argument("--fmax", type=float, default=1100.0, help="highest f0 in Hz (default: 1100)")
    fit.add_argument(
        "--hop", type=_hop, default=0.01, help="seconds between frames (default: 0.01)"
    )
    fit.add_argument("--steps", type=int, default=100, help="fine Adam steps (default: 100)")
    fit.add_argument("--plot", action="store_true", help="also write NAME.f0.png beside the CSV")
    fit.add_argument(
        "--overwrite",
        action="store_true",
        help="redo inputs whose CSV exists (default: skip them)",
    )

    predict = commands.add_parser(
        "predict",
        help="estimate f0 with the trained network",
        description=(
            "Estimate the f0 of audio files with the trained network. A PATH is an audio "
            "file, a folder (searched recursively for files libsndfile reads) or a .txt "
            "file listing one path per line (relative to the list's folder; blank lines "
            "and lines starting with # are skipped). Multi-channel audio is downmixed by "
            "averaging the channels. Writes NAME.f0.csv (time,frequency,periodicity,"
            "voiced) or NAME.f0.json per input, through a temporary file (a crash never "
            "leaves a half-written one); frequency is an estimate in every frame, voiced "
            "says whether to trust it. Inputs whose output exists are skipped unless "
            "--overwrite. Missing files, folders without audio, unsupported or corrupt "
            "files and unwritable outputs are reported, the other inputs still run, and "
            "the exit status is 1; bad options exit with 2."
        ),
    )
    predict.add_argument(
        "paths", nargs="+", metavar="PATH", help="audio files, folders, .txt lists"
    )
    predict.add_argument(
        "--checkpoint", help="a .ckpt from scripts/train.py (default: the shipped model)"
    )
    predict.add_argument(
        "--device", default=None, help="cpu or cuda (default: cuda if available, else cpu)"
    )
    predict.add_argument("--fmin", type=float, help="lowest f0 in Hz (default: the model's)")
    predict.add_argument("--fmax", type=float, help="highest f0 in Hz (default: the model's)")
    predict.add_argument(
        "--hop",
        type=_hop,
        default=0.01,
        help="seconds between frames; frame k is at k * hop (default: 0.01, the shipped "
        "model's own frames)",
    )
    predict.add_argument(
        "--batch-size", type=int, default=8, help="chunks per network call (default: 8)"
    )
    predict.add_argument(
        "--decoder",
        choices=DECODERS,
        default="viterbi",
        help="viterbi: the most probable f0 path through the file; argmax: each frame on "
        "its own (default: viterbi)",
    )
    predict.add_argument(
        "--voicing-threshold",
        type=float,
        help="a frame is voiced where its periodicity is above this, in (0, 1); lower finds "
        "more voiced frames in noise (default: the checkpoint's own)",
    )
    predict.add_argument(
        "--top-db",
        type=_top_db,
        default=SILENCE_TOP_DB,
        help="frames more than this many dB below the loudest frame of the file are "
        f"unvoiced; 'off' turns the gate off (default: {SILENCE_TOP_DB:g})",
    )
    predict.add_argument(
        "--format",
        choices=("csv", "json", "npy"),
        default="csv",
        help="npy: NAME.f0.npy (Hz, float32, NaN where unvoiced), NAME.periodicity.npy, "
        "NAME.voiced.npy, written by the corpus path (default: csv)",
    )
    corpus = predict.add_argument_group(
        "corpus extraction",
        "any of these (or --format npy) runs foldpitch.corpus.extract: files read in "
        "worker processes, chunks of several files per network call, outputs written in "
        "the background, a manifest, a progress bar with hours of audio and a summary "
        "line; the same results, frame for frame",
    )
    corpus.add_argument(
        "--workers", type=int, help="processes that read and resample files (0: this one)"
    )
    corpus.add_argument(
        "--batch-files", type=int, help="chunks (of as many files) per network call (default: 16)"
    )
    corpus.add_argument(
        "--manifest",
        help=f"manifest path (default: OUT_DIR/{'manifest.jsonl'} with --out-dir, else none)",
    )
    corpus.add_argument(
        "--devices", type=int, help="run under Lightning's DDP with this many devices per node"
    )
    corpus.add_argument("--num-nodes", type=int, default=1, help="machines (default: 1)")
    corpus.add_argument(
        "--accelerator",
        choices=("auto", "cpu", "gpu"),
        default="auto",
        help="with --devices (default: auto)",
    )
    predict.add_argument(
        "--out-dir",
        help="where the outputs go (default: next to each input); files found in a folder "
        "keep their path relative to it",
    )
    predict.add_argument("--plot", action="store_true", help="also write NAME.f0.png")
    predict.add_argument(
        "--overwrite",
        action="store_true",
        help="redo inputs whose output exists (default: skip them)",
    )
    add_export_onnx_parser(commands)
    _add_stream_parser(commands)
    add_adapt_parser(commands)
    return parser


def add_export_onnx_parser(commands) -> None:
    """``foldpitch export-onnx OUT.onnx [--checkpoint C] [--frames]``."""
    export = commands.add_parser(
        "export-onnx",
        help="write the network as an ONNX file (for onnxruntime in C++, mobile, browser)",
        description=(
            "Write the network as an ONNX file: audio (batch, time) at the network's rate, "
            "or with --frames STFT magnitudes (batch, n_input_bins, frames), to logits, "
            "offsets and periodicity_logits per frame; batch and time are dynamic. The "
            "file's metadata holds the rates, period bins and voicing threshold needed to "
            "decode it (see foldpitch.export). Needs pip install 'foldpitch[onnx]'."
        ),
    )
    export.add_argument("out", metavar="OUT.onnx", help="the file to write")
    export.add_argument(
        "--checkpoint", help="a .ckpt from scripts/train.py (default: the shipped model)"
    )
    export.add_argument(
        "--frames",
        action="store_true",
        help="take STFT magnitudes instead of audio (for runtimes without an STFT operator)",
    )
    export.add_argument("--opset", type=int, default=17, help="ONNX opset, >= 17 (default: 17)")


def run_export_onnx(args) -> int:
    from .export import export_onnx

    try:
        path = export_onnx(args.out, args.checkpoint, from_audio=not args.frames, opset=args.opset)
    except (FileNotFoundError, ModuleNotFoundError, TypeError, ValueError, OSError) as error:
        print(f"foldpitch export-onnx: error: {error}", file=sys.stderr)
        return 1
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


def add_adapt_parser(commands) -> None:
    """``foldpitch adapt PATH... --out my.ckpt [--steps N] [--device cpu|cuda] [--seed S]``."""
    adapt = commands.add_parser(
        "adapt",
        help="fine-tune the network on your own unlabelled recordings",
        description=(
            "Fine-tune the network on your own recordings, without labels: the fold "
            "loss it was trained with is the only objective. The last 20 %% of every "
            "file is held back and its fold loss printed before and after (lower is "
            "better), so you see whether it helped; the weights with the lowest "
            "held-back loss are written, with the base network's voicing (only the pitch "
            "is fine-tuned unless --train-voicing). "
            "Stops early when that loss stops improving, and refuses audio that is too "
            "short, silent or unpitched, and a network that collapsed. Then: foldpitch "
            "predict --checkpoint OUT.ckpt ... Needs the train extra (lightning)."
        ),
    )
    adapt.add_argument("paths", nargs="+", metavar="PATH", help="audio files, folders, .txt lists")
    adapt.add_argument("--out", required=True, metavar="OUT.ckpt", help="the checkpoint to write")
    adapt.add_argument("--steps", type=int, default=200, help="training steps (default: 200)")
    adapt.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="(default: cpu)")
    adapt.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    adapt.add_argument(
        "--checkpoint", help="the network to start from (default: the shipped model)"
    )
    adapt.add_argument(
        "--batch-size", type=int, default=8, help="1 s excerpts per step (default: 8)"
    )
    adapt.add_argument(
        "--voicing-threshold",
        type=float,
        help="store this voicing threshold in (0, 1) (default: the base checkpoint's)",
    )
    adapt.add_argument(
        "--train-voicing",
        action="store_true",
        help="train the voicing output too (default: only the pitch is fine-tuned and the "
        "voicing stays the base network's: on your audio as it is, a reverberant tail or a "
        "background voice is periodic, and would be learnt as voiced)",
    )


def run_adapt(args) -> int:
    """Run :func:`foldpitch.system.adapt`; refusals and collapse exit with status 1."""
    say = lambda message: print(message, file=sys.stderr)  # noqa: E731
    if args.steps < 1 or args.batch_size < 1:
        say("foldpitch adapt: --steps and --batch-size must be positive integers")
        return 2
    if args.voicing_threshold is not None and not 0 < args.voicing_threshold < 1:
        say(f"foldpitch adapt: --voicing-threshold must be in (0, 1), got {args.voicing_threshold}")
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        say("foldpitch adapt: --device cuda was asked for but CUDA is not available")
        return 2
    try:
        from .system import AdaptationCollapsed, adapt, describe_adaptation
    except ImportError as error:  # lightning is in the train extra
        say(f"foldpitch adapt: needs the train extra (pip install 'foldpitch[train]'): {error}")
        return 2
    inputs, failures = _collect_inputs(args.paths)
    if failures or not inputs:
        say("foldpitch adapt: " + ("no audio files found" if not inputs else "missing inputs"))
        return 1
    try:
        summary = adapt(
            [path for path, _ in inputs],
            args.out,
            steps=args.steps,
            device=args.device,
            seed=args.seed,
            init_from=args.checkpoint or "shipped",
            batch_size=args.batch_size,
            voicing_threshold=args.voicing_threshold,
            train_voicing=args.train_voicing,
        )
    except (AdaptationCollapsed, ValueError, FileNotFoundError) as error:
        say(f"foldpitch adapt: {error}")
        return 1
    print(describe_adaptation(summary))
    if summary.get("skipped_audio_files"):
        say(f"{summary['skipped_audio_files']} unreadable audio file(s) skipped")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo" and args.fit:
        return run_demo(args.steps, args.kernel, args.plot)
    if args.command == "demo":
        return run_network_demo(args.checkpoint, args.plot or "foldpitch-demo.png")
    if args.command == "predict":
        return run_predict(args)
    if args.command == "export-onnx":
        return run_export_onnx(args)
    if args.command == "stream":
        return run_stream(args)
    if args.command == "adapt":
        return run_adapt(args)
    return run_fit(args)


def run_fit(args) -> int:
    """Fit every file; a file that fails is reported and the others still run."""
    from .fit import fit_envelope
    from .io import atomic_output, read_audio, write_track_csv

    out_dir = Path(args.out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(f"foldpitch fit: cannot create --out-dir {out_dir}: {error}", file=sys.stderr)
        return 2
    failures = skipped = 0
    for number, name in enumerate(args.audio, 1):
        print(f"[{number}/{len(args.audio)}] {name}", file=sys.stderr)
        target = out_dir / f"{Path(name).stem}.f0.csv"
        if target.exists() and not args.overwrite:
            skipped += 1
            print(f"    skipped: {target} exists (--overwrite to redo it)", file=sys.stderr)
            continue
        try:
            audio, sample_rate = read_audio(name)
            track = fit_envelope(
                audio, sample_rate, args.fmin, args.fmax, args.hop, fine_steps=args.steps
            )
            _write(write_track_csv, target, track.times, track.f0, track.periodicity, track.voiced)
            if args.plot:
                from .plot import plot_track

                with atomic_output(target.with_suffix(".png")) as temporary:
                    plot_track(temporary, audio, sample_rate, track, Path(name).name)
            voiced = float(track.voiced.float().mean())
            print(
                f"    -> {target} ({len(track.times)} frames, {voiced:.0%} voiced)", file=sys.stderr
            )
        except (OSError, ValueError, TypeError) as error:
            failures += 1
            print(f"    failed: {error}", file=sys.stderr)
    if skipped:
        print(f"{skipped} of {len(args.audio)} inputs skipped (outputs exist)", file=sys.stderr)
    if failures:
        print(f"{failures} of {len(args.audio)} inputs failed", file=sys.stderr)
    return 1 if failures else 0


def _hop(text: str) -> float:
    """``--hop``: a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def _top_db(text: str) -> float | None:
    """``--top-db``: a positive number of dB, or ``off``."""
    if text.strip().lower() == "off":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of dB or 'off', got {text!r}"
        ) from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of dB or 'off', got {text}")
    return value


def _write(writer, target: Path, *values) -> None:
    """Run ``writer(target, *values)``; a failure to write names the output file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        writer(target, *values)
    except OSError as error:
        raise OSError(f"cannot write {target}: {error.strerror or error}") from error


def run_predict(args) -> int:
    """Predict every input; an input that fails is reported and the others still run."""
    from .io import atomic_output, read_audio, write_track_csv, write_track_json
    from .predict import _check_range, _resolve_device, _resolve_model, predict

    if args.batch_size < 1:
        print(
            f"foldpitch predict: --batch-size must be >= 1, got {args.batch_size}", file=sys.stderr
        )
        return 2
    if args.voicing_threshold is not None and not 0 < args.voicing_threshold < 1:
        print(
            f"foldpitch predict: --voicing-threshold must be in (0, 1), got "
            f"{args.voicing_threshold}",
            file=sys.stderr,
        )
        return 2
    try:
        device = _resolve_device(args.device)
        net = _resolve_model(args.checkpoint, device)
        _check_range(net, args.fmin, args.fmax)
    except (OSError, ValueError, TypeError) as error:
        print(f"foldpitch predict: {error}", file=sys.stderr)
        return 2
    if args.plot:
        try:
            require("matplotlib", "plot", "--plot")
        except ImportError as error:
            print(f"foldpitch predict: {error}", file=sys.stderr)
            return 2
    out_dir = Path(args.out_dir) if args.out_dir else None
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            print(f"foldpitch predict: cannot create --out-dir {out_dir}: {error}", file=sys.stderr)
            return 2

    corpus = args.format == "npy" or any(
        value is not None for value in (args.workers, args.batch_files, args.devices, args.manifest)
    )
    if corpus:
        return _run_corpus(args, net, device, out_dir)
    inputs, failures = _collect_inputs(args.paths)
    total = len(inputs) + len(failures)
    written: set[Path] = set()
    skipped: list[str] = []
    say, progress = _progress_tools()
    for name, relative in progress(inputs):
        try:
            if out_dir is None:
                target = name.parent / f"{name.stem}.f0.{args.format}"
            else:
                target = out_dir / relative.parent / f"{relative.stem}.f0.{args.format}"
            if target.resolve() in written:
                raise ValueError(f"another input already wrote {target}")
            if target.exists() and not args.overwrite:
                skipped.append(str(name))
                say(f"skipped: {name}: {target} exists (--overwrite to redo it)")
                continue
            audio, sample_rate = read_audio(name)
            result = predict(
                audio,
                sample_rate,
                net,
                hop=args.hop,
                fmin=args.fmin,
                fmax=args.fmax,
                device=device,
                batch_size=args.batch_size,
                decoder=args.decoder,
                voicing_threshold=args.voicing_threshold,
                top_db=args.top_db,
            )
            columns = (result.times, result.f0, result.periodicity, result.voiced)
            if args.format == "csv":
                _write(write_track_csv, target, *columns)
            else:
                _write(write_track_json, target, *columns)
            written.add(target.resolve())
            if args.plot:
                with atomic_output(target.with_suffix(".png")) as temporary:
                    plot_prediction(temporary, audio, sample_rate, result, name.name)
            voiced = float(result.voiced.float().mean())
            say(f"{name} -> {target} ({len(result.times)} frames, {voiced:.0%} voiced)")
        except (OSError, ValueError, TypeError, RuntimeError, MemoryError) as error:
            failures.append(str(name))
            say(f"failed: {name}: {error}")
    if skipped:
        say(
            f"{len(skipped)} of {total} inputs skipped: their outputs exist "
            "(--overwrite to redo them)"
        )
    if failures:
        say(f"{len(failures)} of {total} inputs failed: {', '.join(failures)}")
    elif not inputs:
        say("no audio files found")
        return 1
    return 1 if failures else 0


def _run_corpus(args, net, device, out_dir: Path | None) -> int:
    """``foldpitch predict`` through :func:`foldpitch.corpus.extract`."""
    from .corpus import extract

    for name, value, least in (
        ("--workers", args.workers, 0),
        ("--batch-files", args.batch_files, 1),
        ("--devices", args.devices, 1),
        ("--num-nodes", args.num_nodes, 1),
    ):
        if value is not None and value < least:
            print(f"foldpitch predict: {name} must be >= {least}, got {value}", file=sys.stderr)
            return 2
    if args.plot:
        print("foldpitch predict: --plot is not available with corpus options", file=sys.stderr)
        return 2
    if args.devices is not None and out_dir is None and args.manifest is None:
        print("foldpitch predict: --devices needs --out-dir or --manifest", file=sys.stderr)
        return 2
    inputs, failures = _collect_inputs(args.paths)
    summary = extract(
        inputs,
        out_dir,
        checkpoint=net if args.devices is None else args.checkpoint,
        device=device,
        format=args.format,
        hop=args.hop,
        fmin=args.fmin,
        fmax=args.fmax,
        decoder=args.decoder,
        voicing_threshold=args.voicing_threshold,
        top_db=args.top_db,
        batch_files=16 if args.batch_files is None else args.batch_files,
        workers=args.workers or 0,
        overwrite=args.overwrite,
        manifest=args.manifest,
        devices=args.devices,
        num_nodes=args.num_nodes,
        accelerator=args.accelerator,
        failed_inputs=[
            (name, "no such file, no audio in the folder, or an unreadable list")
            for name in failures
        ],
    )
    if summary.rank != 0:
        return 0  # rank 0 reports for every rank
    print(f"foldpitch predict: {summary.line()}", file=sys.stderr)
    if not summary.records:
        print("no audio files found", file=sys.stderr)
        return 1
    return 1 if summary.count("failed") else 0


def _collect_inputs(paths: list[str]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """Expand PATHs into ``(audio file, path relative to --out-dir)`` pairs; paths that do
    not exist (or lists that cannot be read) are reported and returned as failures."""
    import soundfile

    extensions = {f".{name.lower()}" for name in soundfile.available_formats()}
    extensions |= {".wave", ".aif", ".aifc", ".oga", ".opus"}
    inputs: list[tuple[Path, Path]] = []
    failures: list[str] = []

    def expand(path: Path, from_list: bool) -> None:
        if path.is_dir():
            found_any = False
            for found in sorted(path.rglob("*")):
                if found.is_file() and found.suffix.lower() in extensions:
                    inputs.append((found, found.relative_to(path)))
                    found_any = True
            if not found_any:
                print(
                    f"failed: {path}: no audio files in this folder (none with an extension "
                    "libsndfile reads)",
                    file=sys.stderr,
                )
                failures.append(str(path))
        elif path.suffix.lower() == ".txt" and not from_list and path.is_file():
            try:
                lines = path.read_text().splitlines()
            except (OSError, UnicodeDecodeError) as error:
                print(f"failed: cannot read the list {path}: {error}", file=sys.stderr)
                failures.append(str(path))
                return
            for line in lines:
                entry = line.strip()
                if entry and not entry.startswith("#"):
                    expand(path.parent / Path(entry).expanduser(), True)
        elif path.is_file():
            inputs.append((path, Path(path.name)))
        else:
            print(f"failed: {path}: no such file or folder", file=sys.stderr)
            failures.append(str(path))

    for name in paths:
        expand(Path(name).expanduser(), False)
    return inputs, failures


def _progress_tools():
    """``(say, progress)``: a message printer and a progress bar over files (tqdm if it
    is installed; no bar otherwise). Both write to stderr."""
    try:
        from tqdm import tqdm
    except ImportError:
        return (lambda message: print(message, file=sys.stderr)), (lambda items: items)

    def progress(items):
        return tqdm(items, desc="foldpitch predict", unit="file", file=sys.stderr, disable=None)

    return (lambda message: tqdm.write(message, file=sys.stderr)), progress


def demo_example(sample_rate: int = 16000) -> tuple[Tensor, Tensor]:
    """The network demo's clip: ``(audio (N,), true f0 in Hz per sample, 0 = unvoiced)``.

    0-1 s: 220 Hz with a 6 Hz +-100 cent vibrato; 1-1.25 s: rest; 1.25-2.25 s: a glide
    from 150 Hz up one octave, odd harmonics; 2.25-3 s: 82 Hz with a weak fundamental at
    10 dB SNR (white noise over the whole clip at that level).
    """
    second = sample_rate
    vibrato = vibrato_f0(220.0, 6.0, 100.0, sample_rate, second)
    glide = glide_f0(150.0, 1.0, sample_rate, second)
    low = torch.full((3 * second // 4,), 82.0, dtype=torch.float64)
    parts = [
        (harmonic_tone(vibrato, sample_rate), vibrato),
        (torch.zeros(second // 4), torch.zeros(second // 4, dtype=torch.float64)),
        (harmonic_tone(glide, sample_rate, spectrum="odd"), glide),
        (harmonic_tone(low, sample_rate, spectrum="weak_fundamental"), low),
    ]
    audio = torch.cat([a for a, _ in parts])
    noise = torch.randn(audio.shape, generator=torch.Generator().manual_seed(0))
    audio = audio + noise * audio[-low.numel() :].square().mean().sqrt() * 10 ** (-10 / 20)
    return audio, torch.cat([f for _, f in parts])


def run_network_demo(checkpoint: str | None, plot_path: str) -> int:
    from .predict import predict

    sample_rate = 16000
    audio, true_f0 = demo_example(sample_rate)
    began = time.perf_counter()
    try:
        result = predict(audio, sample_rate, checkpoint)
    except (FileNotFoundError, ValueError) as error:
        print(f"foldpitch demo: {error}", file=sys.stderr)
        return 2
    elapsed = time.perf_counter() - began
    frames = (result.times * sample_rate).round().long()
    truth = true_f0[frames].float()
    cents = 1200 * torch.log2(result.f0 / truth.clamp_min(1e-6))
    print("foldpitch demo: 3 s of generated notes (vibrato, rest, glide, a low note at 10 dB)")
    print(f"the shipped network, {elapsed * 1000:.0f} ms for 3 s of audio\n")
    print("| time (s) | true f0 (Hz) | predicted f0 (Hz) | error (cents) | periodicity |")
    print("|---:|---:|---:|---:|---:|")
    for frame in range(10, len(frames), 25):
        voiced = bool(result.voiced[frame])
        true_text = f"{float(truth[frame]):.1f}" if truth[frame] > 0 else "unvoiced"
        guess = f"{float(result.f0[frame]):.1f}" if voiced else "unvoiced"
        error = f"{float(cents[frame]):+.1f}" if voiced and truth[frame] > 0 else ""
        print(
            f"| {float(result.times[frame]):.2f} | {true_text} | {guess} | {error} "
            f"| {float(result.periodicity[frame]):.2f} |"
        )
    voiced_truth = truth > 0
    correct = (cents.abs() < 50) & voiced_truth & result.voiced
    print(
        f"\nframes within 50 cents (and called voiced): "
        f"{float(correct.sum() / voiced_truth.sum()):.1%} of the voiced frames; median "
        f"error {float(cents[correct].abs().median()):.1f} cents; unvoiced frames called "
        f"voiced: {float((result.voiced & ~voiced_truth).sum() / (~voiced_truth).sum()):.1%}"
    )
    try:
        plot_prediction(plot_path, audio, sample_rate, result, "foldpitch demo")
        print(f"figure written to {plot_path}")
    except ImportError as error:
        print(f"(no figure: {error})")
    return 0


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
    from .plot import _pyplot

    plt = _pyplot()

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


# --- foldpitch stream -------------------------------------------------------------------

_PCM_DTYPES = {"s16": "<i2", "f32": "<f4"}


def _add_stream_parser(commands) -> None:
    from .stream import DEFAULT_LAG_MS, DEFAULT_LOOKAHEAD_MS

    stream = commands.add_parser(
        "stream",
        help="pitch of raw PCM on stdin, one line per frame on stdout as it becomes final",
        description="Read raw PCM (little-endian, interleaved channels, averaged to mono) "
        "from standard input, e.g. `arecord -f S16_LE -r 16000 | foldpitch stream` or "
        "`sox in.wav -t raw -r 16000 -e signed -b 16 - | foldpitch stream`; write one CSV "
        "or JSON line per final frame to standard output, flushed as it goes.",
    )
    stream.add_argument("--rate", type=int, default=16000, help="sample rate in Hz (16000)")
    stream.add_argument("--dtype", choices=tuple(_PCM_DTYPES), default="s16", help="(s16)")
    stream.add_argument("--channels", type=int, default=1, help="interleaved channels (1)")
    stream.add_argument("--format", choices=("csv", "json"), default="csv", help="(csv)")
    stream.add_argument(
        "--lag-ms",
        type=_optional_ms,
        default=DEFAULT_LAG_MS,
        help=f"Viterbi lag; 0: each frame's most probable bin; 'end': decide at the end "
        f"of the input (default: {DEFAULT_LAG_MS:g})",
    )
    stream.add_argument(
        "--lookahead-ms",
        type=_optional_ms,
        default=DEFAULT_LOOKAHEAD_MS,
        help="how far past a frame the network sees; 'full': its whole receptive field "
        f"(the offline result) (default: {DEFAULT_LOOKAHEAD_MS:g})",
    )
    stream.add_argument("--checkpoint", help="a .ckpt from scripts/train.py (default: shipped)")
    stream.add_argument("--fmin", type=float, help="lowest f0 in Hz (default: the model's)")
    stream.add_argument("--fmax", type=float, help="highest f0 in Hz (default: the model's)")
    stream.add_argument(
        "--top-db",
        type=_top_db,
        default=SILENCE_TOP_DB,
        help="frames more than this many dB below the loudest frame so far are unvoiced; "
        f"'off' turns the gate off (default: {SILENCE_TOP_DB:g})",
    )


def _optional_ms(text: str) -> float | None:
    """``--lag-ms``/``--lookahead-ms``: milliseconds >= 0, or ``end``/``full`` (None)."""
    if text.strip().lower() in ("end", "full", "none"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected milliseconds >= 0, got {text}")
    return value


def run_stream(args, stdin=None, stdout=None) -> int:
    """Stream stdin's PCM through :func:`foldpitch.stream.stream` to stdout."""
    import json
    import os

    import numpy as np

    from .stream import stream

    stdin = stdin if stdin is not None else sys.stdin.buffer
    stdout = stdout if stdout is not None else sys.stdout
    if args.channels < 1:
        print(f"foldpitch stream: --channels must be >= 1, got {args.channels}", file=sys.stderr)
        return 2
    try:
        live = stream(
            args.checkpoint,
            sample_rate=args.rate,
            lag_ms=args.lag_ms,
            lookahead_ms=args.lookahead_ms,
            fmin=args.fmin,
            fmax=args.fmax,
            top_db=args.top_db,
        )
    except (OSError, ValueError, TypeError) as error:
        print(f"foldpitch stream: {error}", file=sys.stderr)
        return 2
    dtype = np.dtype(_PCM_DTYPES[args.dtype])
    frame_bytes = dtype.itemsize * args.channels
    if args.format == "csv":
        stdout.write("time,frequency,periodicity,voiced\n")

    def write(result) -> None:
        for values in zip(*(getattr(result, name).tolist() for name in _FIELDS), strict=True):
            time_s, f0, periodicity, voiced = values
            if args.format == "csv":
                stdout.write(f"{time_s:.3f},{f0:.3f},{periodicity:.4f},{int(voiced)}\n")
            else:
                line = {"time": round(time_s, 6), "frequency": round(f0, 3)}
                line.update(periodicity=round(periodicity, 4), voiced=bool(voiced))
                stdout.write(json.dumps(line) + "\n")
        stdout.flush()

    fileno = stdin.fileno() if hasattr(stdin, "fileno") else None
    pending = b""
    while True:
        # Whatever has arrived (up to 64 kB), not a full buffer: frames go out as they come.
        data = os.read(fileno, 1 << 16) if fileno is not None else stdin.read(1 << 16)
        if not data:
            break
        pending += data
        usable = len(pending) - len(pending) % frame_bytes
        samples = np.frombuffer(pending[:usable], dtype=dtype).reshape(-1, args.channels)
        pending = pending[usable:]
        if len(samples):
            mono = samples.mean(axis=1, dtype=np.float64) if args.channels > 1 else samples[:, 0]
            if dtype.kind == "i":
                mono = np.asarray(mono, np.float64) / 32768.0
            write(live.push(np.asarray(mono, np.float32)))
    if pending:
        print(f"foldpitch stream: {len(pending)} trailing bytes ignored", file=sys.stderr)
    write(live.flush())
    return 0


_FIELDS = ("times", "f0", "periodicity", "voiced")


if __name__ == "__main__":
    sys.exit(main())
