"""Pitch of a whole corpus: batched, overlapped, resumable extraction.

:func:`extract` runs the network over many audio files (``foldpitch predict --workers N
--batch-files B``, or ``--devices N`` for several GPUs or machines) and gives every file
the result :func:`foldpitch.predict.predict` gives it on its own, frame for frame (up
to float rounding, within :data:`~foldpitch.predict.CHUNK_TOLERANCE`: rows of one
network call are zero padded to the longest and the network masks the padding, see
:meth:`foldpitch.model.PitchNet.forward`). What changes is how the work is laid out:

* files are read, downmixed, resampled to the network's rate and stripped of their DC
  offset in ``workers`` processes (a PyTorch ``DataLoader``), while the network runs;
* chunks of several files (a file up to ``chunk_seconds`` is one chunk) share one network
  call: :data:`POOL_BATCHES` calls' worth of chunks are sorted by length before they are
  cut into batches, so little of a call is padding;
* a file's f0 path is decoded as soon as its last chunk is through the network (the
  files a call finishes share one Viterbi pass: padded rows, each decoded as on its
  own), and its outputs are written by a background thread;
* with ``devices``/``num_nodes`` the same runs under Lightning's DDP (``Trainer.predict``):
  file ``i`` goes to rank ``i % world_size`` and to no other, each rank writes its own
  outputs, and rank 0 merges the ranks' manifests when all are done.

Outputs (one per file, beside it or under ``out_dir`` keeping the path relative to the
folder it was found in): ``NAME.f0.csv``, ``NAME.f0.json`` or, with ``format="npy"``,
``NAME.f0.npy`` (f0 in Hz, float32, NaN in unvoiced frames), ``NAME.periodicity.npy``
(float32) and ``NAME.voiced.npy`` (bool); see :mod:`foldpitch.io`. Every file is written
through a temporary file and renamed, so a killed run never leaves a half-written one,
and a file whose output exists is skipped (``overwrite=False``): a killed run started
again finishes the rest without redoing what is done.

The manifest (``manifest.jsonl``, one JSON object per input, in input order) gives each
input's ``status`` (``done``, ``skipped``: its output exists, or ``failed``), the
``reason`` of a failure or a skip, and ``duration`` (seconds of audio), ``frames``,
``hop`` (seconds between frames), ``voiced_share`` and ``rank``. A skipped input keeps
the figures of the run that made its output when that run's manifest is at hand. Each
rank appends its records to ``manifest.jsonl.rank<N>.part`` as it goes (so a killed
run's records survive); rank 0 merges them into ``manifest.jsonl`` at the end and
removes the parts.
"""

from __future__ import annotations

import json
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from . import _checks
from .audio import MAX_HOP_DENOMINATOR
from .predict import SILENCE_TOP_DB

__all__ = ["FORMATS", "MANIFEST_NAME", "ExtractSummary", "extract", "output_path"]

FORMATS = ("csv", "json", "npy")
"""Output formats of :func:`extract`."""

MANIFEST_NAME = "manifest.jsonl"
"""The manifest's file name (in ``out_dir`` unless ``manifest`` names another path)."""

POOL_BATCHES = 4
"""Chunks of this many network calls are pooled and sorted by length before they are
cut into calls, so a call's rows have similar lengths (less padding)."""

MAX_BATCH_SECONDS = 480.0
"""A call never holds more than this many seconds of (padded) audio, however many
chunks ``batch_files`` allows: the memory of predict's default, 8 chunks of 60 s."""

MAX_DECODE_FRAMES = 30_000
"""Files decoded in one Viterbi pass have at most this many frames in all (padded):
5 minutes at 10 ms; a longer file is decoded on its own."""

_READ_ERRORS = (OSError, ValueError, TypeError, RuntimeError, MemoryError)


@dataclass
class ExtractSummary:
    """What :func:`extract` did: one manifest record per input (see the module's
    docstring), in input order, and the wall-clock seconds of the run."""

    records: list[dict]
    wall_seconds: float
    rank: int = 0

    def count(self, status: str) -> int:
        return sum(record["status"] == status for record in self.records)

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio processed in this run (``done`` inputs)."""
        return sum(r["duration"] for r in self.records if r["status"] == "done")

    @property
    def rtf(self) -> float:
        """Real-time factor: wall-clock seconds per second of audio processed."""
        return self.wall_seconds / self.audio_seconds if self.audio_seconds else math.nan

    def line(self) -> str:
        """The summary line: files, hours of audio, real-time factor, failures."""
        files = len(self.records)
        rate = self.count("done") / self.wall_seconds if self.wall_seconds else math.nan
        return (
            f"{files} files: {self.count('done')} done, {self.count('skipped')} skipped "
            f"(outputs exist), {self.count('failed')} failed; "
            f"{self.audio_seconds / 3600:.3f} h of audio in {self.wall_seconds:.1f} s "
            f"(RTF {self.rtf:.4f}, {rate:.1f} files/s)"
        )


def output_path(path: Path, relative: Path | None, out_dir: Path | None, format: str) -> Path:
    """Where the output of audio file ``path`` goes: ``NAME.f0.<format>`` beside it, or
    under ``out_dir`` at ``relative`` (its path relative to the folder it was found in;
    its name when ``None``). With ``format="npy"`` this is the f0 file; the other two
    are :func:`foldpitch.io.npy_paths`."""
    if out_dir is None:
        return path.parent / f"{path.stem}.f0.{format}"
    relative = Path(path.name) if relative is None else relative
    return out_dir / relative.parent / f"{relative.stem}.f0.{format}"


def extract(
    inputs: Iterable,
    out_dir: str | os.PathLike | None = None,
    *,
    checkpoint=None,
    device: str | torch.device | None = None,
    format: str = "csv",
    hop: float | None = None,
    fmin: float | None = None,
    fmax: float | None = None,
    decoder: str = "viterbi",
    voicing_threshold: float | None = None,
    top_db: float | None = SILENCE_TOP_DB,
    chunk_seconds: float = 60.0,
    batch_files: int = 16,
    workers: int = 0,
    overwrite: bool = False,
    manifest: str | os.PathLike | None = None,
    progress: bool = True,
    devices: int | None = None,
    num_nodes: int = 1,
    accelerator: str = "auto",
    failed_inputs: Sequence[tuple[str, str]] = (),
) -> ExtractSummary:
    """Estimate the f0 of many audio files and write one output per file.

    Args:
        inputs: audio file paths, or ``(path, relative)`` pairs where ``relative`` is
            where the output goes under ``out_dir`` (as ``foldpitch predict`` finds
            files in folders).
        out_dir: where the outputs (and the manifest) go; ``None`` writes each output
            beside its input.
        checkpoint, device, fmin, fmax, decoder, voicing_threshold, chunk_seconds: as in
            :func:`foldpitch.predict.predict`.
        format: ``"csv"``, ``"json"`` or ``"npy"`` (see the module's docstring).
        hop: seconds between output frames, as in :func:`foldpitch.predict.predict`
            (frame ``k`` at ``k * hop``; at least one sample of each file, the manifest
            gives the hop used); ``None`` gives the network's own frames.
        top_db: the silence gate of :func:`~foldpitch.predict.predict` in dB (default
            :data:`~foldpitch.predict.SILENCE_TOP_DB`); ``None`` turns it off.
        batch_files: chunks (from as many files) per network call.
        workers: ``DataLoader`` worker processes that read and resample files; 0 reads
            them in this process.
        overwrite: redo inputs whose output exists (default: skip them).
        manifest: the manifest's path; default ``out_dir / "manifest.jsonl"``, none when
            ``out_dir`` is ``None`` and no path is given.
        progress: a progress bar over files (with hours of audio and the time left) on
            stderr (tqdm if installed).
        devices, num_nodes, accelerator: run under Lightning's DDP with this many
            devices per node (``accelerator`` ``"gpu"``, ``"cpu"`` or ``"auto"``);
            ``None`` runs in this process without Lightning. Lightning starts the other
            ranks by running this program again, so call this from a script (or the
            ``foldpitch`` command), under ``if __name__ == "__main__":``.
        failed_inputs: ``(path, reason)`` of inputs that failed before (e.g. a missing
            folder), listed in the manifest as failed.

    Returns:
        An :class:`ExtractSummary` (on ranks other than 0 of a DDP run: that rank's
        records only, with ``rank`` set).

    Raises:
        ValueError, TypeError: a bad option (named); a bad input file never raises, it is
            recorded as failed and the others are processed.
    """
    from .predict import (
        DECODERS,
        _check_range,
        _resolve_device,
        _resolve_model,
    )

    _checks.one_of("format", format, FORMATS)
    _checks.one_of("decoder", decoder, DECODERS)
    if hop is not None:
        hop = _checks.positive_real("hop", hop, unit="seconds between frames")
    if top_db is not None:
        top_db = _checks.positive_real("top_db", top_db, unit="dB below the loudest frame")
    if voicing_threshold is not None:
        from .model import check_voicing_threshold

        voicing_threshold = check_voicing_threshold(voicing_threshold)
    chunk_seconds = _checks.positive_real("chunk_seconds", chunk_seconds, unit="seconds")
    batch_files = _checks.positive_int("batch_files", batch_files, unit="chunks per network call")
    workers = _checks.non_negative_int("workers", workers, unit="processes")
    out_dir = None if out_dir is None else Path(out_dir)
    if manifest is None and out_dir is not None:
        manifest = out_dir / MANIFEST_NAME
    manifest = None if manifest is None else Path(manifest)
    jobs = _jobs(inputs, out_dir, format)
    options = {
        "hop": hop,
        "decoder": decoder,
        "voicing_threshold": voicing_threshold,
        "top_db": top_db,
        "chunk_seconds": chunk_seconds,
        "batch_files": batch_files,
        "workers": workers,
        "overwrite": overwrite,
        "format": format,
        "progress": progress,
    }
    began = time.perf_counter()
    if devices is None:
        target = _resolve_device(device)
        net = _resolve_model(checkpoint, target)
        options["f0_range"] = _check_range(net, fmin, fmax)
        run = _RankRun(jobs, 0, 1, manifest, options)
        with torch.inference_mode():
            run.process(net, target)
        records = run.records
        rank = 0
    else:
        if manifest is None:
            raise ValueError("devices needs out_dir or manifest: the ranks' records meet there")
        devices = _checks.positive_int("devices", devices, unit="devices per node")
        num_nodes = _checks.positive_int("num_nodes", num_nodes, unit="machines")
        net = _resolve_model(checkpoint, torch.device("cpu"))
        options["f0_range"] = _check_range(net, fmin, fmax)
        records, rank = _run_lightning(
            jobs, net, manifest, options, devices, num_nodes, accelerator
        )
    if rank == 0:
        records = _merge_manifest(manifest, jobs, records, failed_inputs)
    summary = ExtractSummary(records, time.perf_counter() - began, rank)
    return summary


# --- one rank's work ----------------------------------------------------------------


@dataclass
class _Job:
    index: int
    path: Path
    output: Path


def _jobs(inputs: Iterable, out_dir: Path | None, format: str) -> list[_Job]:
    jobs = []
    for index, item in enumerate(inputs):
        if isinstance(item, tuple):
            path, relative = Path(item[0]), Path(item[1])
        elif isinstance(item, (str, os.PathLike)):
            path, relative = Path(item), None
        else:
            raise TypeError(
                "inputs must be paths or (path, relative path) pairs, got "
                f"{type(item).__name__} at position {index}"
            )
        jobs.append(_Job(index, path, output_path(path, relative, out_dir, format)))
    return jobs


def _outputs(job: _Job, format: str) -> tuple[Path, ...]:
    from .io import npy_paths

    return npy_paths(job.output) if format == "npy" else (job.output,)


class _AudioFiles(torch.utils.data.Dataset):
    """The jobs' audio at the network's rate, DC removed: ``{"index", "audio" (time,),
    "sample_rate", "n_samples"}`` (the file's own rate and length), or ``{"index",
    "error"}`` for a file that cannot be read (never raises)."""

    def __init__(self, jobs: list[_Job], model_rate: int) -> None:
        self.jobs, self.model_rate = jobs, model_rate

    def __len__(self) -> int:
        return len(self.jobs)

    def __getitem__(self, item: int) -> dict:
        from .io import read_audio
        from .predict import _as_float32, _remove_dc, _resample

        job = self.jobs[item]
        try:
            audio, sample_rate = read_audio(job.path)
            waveform = _as_float32(audio)
            native = _remove_dc(_resample(waveform, sample_rate, self.model_rate))
        except _READ_ERRORS as error:
            return {"index": job.index, "error": str(error)}
        return {
            "index": job.index,
            "audio": native[0],
            "sample_rate": sample_rate,
            "n_samples": waveform.shape[-1],
        }


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # the workers read and resample; the network has the cores


@dataclass
class _File:
    """A file between its first chunk and its result."""

    job: _Job
    audio: Tensor
    sample_rate: int
    n_samples: int
    tracks: tuple
    remaining: int
    error: str | None = None


@dataclass
class _RankRun:
    """Everything one rank does: skip what is done, read the rest with a DataLoader,
    pack chunks into network calls, decode and hand each file to the writer thread."""

    jobs: list[_Job]
    rank: int
    world_size: int
    manifest: Path | None
    options: dict
    records: list[dict] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.share = self.jobs[self.rank :: self.world_size]
        self.pool: list[tuple] = []
        self.writer: _Writer | None = None

    def loader(self, model_rate: int) -> torch.utils.data.DataLoader:
        """Open the writer, record the skipped jobs and return the rest's DataLoader."""
        part = None
        if self.manifest is not None:
            part = self.manifest.with_name(f"{self.manifest.name}.rank{self.rank}.part")
        show = self.options["progress"] and self.rank == 0
        self.writer = _Writer(self.options["format"], part, len(self.share), show, self.rank)
        todo = []
        seen: set[Path] = set()
        for job in self.share:
            outputs = _outputs(job, self.options["format"])
            if job.output.resolve() in seen:
                self.writer.fail(job, f"another input writes {job.output}")
            elif not self.options["overwrite"] and all(path.exists() for path in outputs):
                self.writer.skip(job)
            else:
                todo.append(job)
            seen.add(job.output.resolve())
        self.by_index = {job.index: job for job in todo}
        workers = self.options["workers"]
        return torch.utils.data.DataLoader(
            _AudioFiles(todo, model_rate),
            batch_size=None,
            num_workers=workers,
            worker_init_fn=_worker_init if workers else None,
            prefetch_factor=4 if workers else None,
        )

    def process(self, net, device: torch.device) -> None:
        """Single-process run: the whole share through ``net`` on ``device``."""
        for item in self.loader(net.sample_rate):
            self.add(item, net, device)
        self.finish(net, device)

    def add(self, item: dict, net, device: torch.device) -> None:
        """Take one file from the DataLoader; run the pool when it is full."""
        from .frontend import n_frames_for
        from .predict import VITERBI_CANDIDATES, _chunk_windows, _empty_tracks

        job = self.by_index[item["index"]]
        if "error" in item:
            self.writer.fail(job, item["error"])
            return
        audio = item["audio"]
        n_candidates = VITERBI_CANDIDATES if self.options["decoder"] == "viterbi" else 1
        fmin, fmax = self.options["f0_range"]
        n_frames = n_frames_for(audio.shape[-1], net.hop_length)
        windows = _chunk_windows(net, audio.shape[-1], self.options["chunk_seconds"])
        file = _File(
            job,
            audio,
            item["sample_rate"],
            item["n_samples"],
            _empty_tracks(net, 1, n_frames, fmin, fmax, n_candidates),
            len(windows),
        )
        self.pool.extend((file, *window) for window in windows)
        if len(self.pool) >= POOL_BATCHES * self.options["batch_files"]:
            self.run_pool(net, device)

    def finish(self, net, device: torch.device) -> None:
        """Run what is left in the pool and wait for the writer (idempotent)."""
        if self.pool:
            self.run_pool(net, device)
        if self.writer is not None:
            self.records = self.writer.close()

    def run_pool(self, net, device: torch.device) -> None:
        """The pooled chunks, shortest first, in calls of at most ``batch_files``
        chunks and :data:`MAX_BATCH_SECONDS` of padded audio."""
        from .predict import _call_network, _store

        pool = sorted(self.pool, key=lambda chunk: chunk[4] - chunk[3])
        self.pool = []
        limit = max(1, round(MAX_BATCH_SECONDS * net.sample_rate))
        position = 0
        while position < len(pool):
            group = [pool[position]]
            position += 1
            while position < len(pool) and len(group) < self.options["batch_files"]:
                longest = pool[position][4] - pool[position][3]  # sorted: the new one
                if longest * (len(group) + 1) > limit:
                    break
                group.append(pool[position])
                position += 1
            lengths = torch.tensor([stop - start for _, _, _, start, stop in group])
            batch = torch.zeros(len(group), int(lengths.max()))
            for row, (file, _, _, start, stop) in enumerate(group):
                batch[row, : stop - start] = file.audio[start:stop]
            try:
                allowed = group[0][0].tracks[0].allowed
                k = group[0][0].tracks[0].bins.shape[-1]
                outputs = _call_network(net, batch, lengths, allowed, k, device)
            except (RuntimeError, MemoryError) as error:
                outputs = None
                reason = f"network call failed: {error}"
            finished = []
            for row, (file, first, end, start, _) in enumerate(group):
                if outputs is None:
                    file.error = file.error or reason
                else:
                    _store(file.tracks, 0, first, end, start // net.hop_length, outputs, row)
                file.remaining -= 1
                if file.remaining == 0:
                    file.audio = None  # free it before the writer runs
                    finished.append(file)
            self.decode(finished, net)

    def decode(self, files: list[_File], net) -> None:
        """Decode the files whose chunks are all through the network and hand them to
        the writer; files of similar lengths share one Viterbi pass (padded rows; at
        most :data:`MAX_DECODE_FRAMES` frames in all)."""
        for file in files:
            if file.error is not None:
                self.writer.fail(file.job, file.error)
        files = sorted((file for file in files if file.error is None), key=_n_frames)
        position = 0
        while position < len(files):
            group = [files[position]]
            position += 1
            while (
                position < len(files)
                and _n_frames(files[position]) * (len(group) + 1) <= MAX_DECODE_FRAMES
            ):
                group.append(files[position])
                position += 1
            self._decode_group(group, net)

    def _decode_group(self, files: list[_File], net) -> None:
        from .predict import _Candidates, _decode, _finish

        options = self.options
        lengths = [_n_frames(file) for file in files]
        try:
            candidates = _Candidates(
                *(_pad_rows([getattr(f.tracks[0], name) for f in files]) for name in _FIELDS),
                allowed=files[0].tracks[0].allowed,
            )
            log2_period = _decode(candidates, net, options["decoder"], np.array(lengths))
        except (RuntimeError, MemoryError, ValueError) as error:
            for file in files:
                self.writer.fail(file.job, f"decoding failed: {error}")
            return
        for row, (file, n_frames) in enumerate(zip(files, lengths, strict=True)):
            hop = None
            hop_seconds = net.hop_length / net.sample_rate
            if options["hop"] is not None:
                # Seconds, as predict reads them (frame k at k * hop), at least one sample.
                hop = Fraction(options["hop"]).limit_denominator(MAX_HOP_DENOMINATOR)
                hop = max(hop, Fraction(1, file.sample_rate))
                hop_seconds = float(hop)
            _, periodicity, power_db = file.tracks
            result = _finish(
                net,
                (log2_period[row : row + 1, :n_frames], periodicity, power_db),
                file.n_samples,
                file.sample_rate,
                hop,
                options["f0_range"],
                options["voicing_threshold"],
                options["top_db"],
            )
            self.writer.write(file.job, result, file.n_samples / file.sample_rate, hop_seconds)


_FIELDS = ("bins", "log_probs", "log2_periods")


def _n_frames(file: _File) -> int:
    return file.tracks[1].shape[-1]


def _pad_rows(tensors: list[Tensor]) -> Tensor:
    """``(1, frames_i, ...)`` tensors stacked into ``(rows, max frames, ...)``, zeros after."""
    longest = max(tensor.shape[1] for tensor in tensors)
    out = tensors[0].new_zeros((len(tensors), longest, *tensors[0].shape[2:]))
    for row, tensor in enumerate(tensors):
        out[row, : tensor.shape[1]] = tensor[0]
    return out


# --- the writer thread and the manifest ---------------------------------------------


class _Writer:
    """Writes outputs in a background thread and keeps one record per job; appends each
    record to ``part`` (if given) as soon as it is known, and drives the progress bar."""

    def __init__(self, format: str, part: Path | None, total: int, show: bool, rank: int):
        self.format, self.part, self.rank = format, part, rank
        self.records: list[dict] = []
        self.queue: queue.Queue = queue.Queue(maxsize=64)  # bounds the results held
        self.bar = _progress_bar(total) if show else None
        self.hours = 0.0
        if part is not None:
            part.parent.mkdir(parents=True, exist_ok=True)
        self.thread = threading.Thread(target=self._run, name="foldpitch-writer", daemon=True)
        self.thread.start()
        self.closed = False

    def write(self, job: _Job, result, duration: float, hop: float) -> None:
        self.queue.put(("write", job, result, duration, hop))

    def skip(self, job: _Job) -> None:
        self.queue.put(("skip", job, None, None, None))

    def fail(self, job: _Job, reason: str) -> None:
        self.queue.put(("fail", job, reason, None, None))

    def close(self) -> list[dict]:
        """Wait for every output and return the records (idempotent)."""
        if not self.closed:
            self.queue.put(None)
            self.thread.join()
            self.closed = True
            if self.bar is not None:
                self.bar.close()
        return self.records

    def _run(self) -> None:
        while (task := self.queue.get()) is not None:
            kind, job, payload, duration, hop = task
            record = {"path": str(job.path), "output": str(job.output), "rank": self.rank}
            if kind == "skip":
                record.update(status="skipped", reason="output exists")
            elif kind == "fail":
                record.update(status="failed", reason=payload)
            else:
                try:
                    self._write_outputs(job, payload)
                    voiced = float(payload.voiced.float().mean())
                    record.update(
                        status="done",
                        duration=duration,
                        frames=int(payload.f0.shape[-1]),
                        hop=hop,
                        voiced_share=round(voiced, 6),
                    )
                    self.hours += duration / 3600
                except (OSError, ValueError) as error:
                    record.update(status="failed", reason=str(error))
            record["index"], record["time"] = job.index, time.time()
            self.records.append(record)
            self._log(record)

    def _write_outputs(self, job: _Job, result) -> None:
        from .io import write_track_csv, write_track_json, write_track_npy

        writers = {"csv": write_track_csv, "json": write_track_json}
        try:
            job.output.parent.mkdir(parents=True, exist_ok=True)
            if self.format == "npy":
                write_track_npy(job.output, result.f0[0], result.periodicity[0], result.voiced[0])
            else:
                columns = (result.f0[0], result.periodicity[0], result.voiced[0])
                writers[self.format](job.output, result.times, *columns)
        except OSError as error:
            raise OSError(f"cannot write {job.output}: {error.strerror or error}") from error

    def _log(self, record: dict) -> None:
        if self.part is not None:
            with open(self.part, "a") as stream:
                stream.write(json.dumps(record) + "\n")
        if self.bar is not None:
            self.bar.set_postfix_str(f"{self.hours:.3f} h audio", refresh=False)
            self.bar.update(1)
        if record["status"] == "failed":
            _say(f"failed: {record['path']}: {record['reason']}")


def _progress_bar(total: int):
    """A tqdm bar over files on stderr; ``None`` without tqdm."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="foldpitch predict", unit="file", file=sys.stderr)


def _say(message: str) -> None:
    try:
        from tqdm import tqdm
    except ImportError:
        print(message, file=sys.stderr)
    else:
        tqdm.write(message, file=sys.stderr)


def _merge_manifest(
    manifest: Path | None,
    jobs: list[_Job],
    records: list[dict],
    failed_inputs: Sequence[tuple[str, str]],
) -> list[dict]:
    """One record per job, in input order: the latest known for its output (this run
    wrote one for every job, on whichever rank), a skipped one with the figures of the
    run that made the output. Written atomically to ``manifest``; the parts removed."""
    from .io import atomic_output

    parts = []
    history = list(records)  # this process's own; the parts add the other ranks'
    if manifest is not None:
        parts = sorted(manifest.parent.glob(f"{manifest.name}.rank*.part"))
        for source in ([manifest] if manifest.exists() else []) + parts:
            for line in source.read_text().splitlines():
                try:
                    history.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line cut short by a kill
    history.sort(key=lambda record: record.get("time", 0.0))  # the manifest's have none
    latest = {}
    latest_done = {}
    for record in history:
        latest[record.get("output")] = record
        if record.get("status") == "done":
            latest_done[record.get("output")] = record
    merged = []
    for job in jobs:
        key = str(job.output)
        record = dict(latest.get(key) or {"status": "failed", "reason": "no rank finished it"})
        record.update(path=str(job.path), output=key)
        if record["status"] == "skipped" and key in latest_done:
            for name in ("duration", "frames", "hop", "voiced_share"):
                record[name] = latest_done[key].get(name)
        merged.append(_ordered(record))
    for path, reason in failed_inputs:
        merged.append(_ordered({"path": path, "status": "failed", "reason": reason}))
    if manifest is not None:
        manifest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(manifest) as temporary:
            temporary.write_text("".join(json.dumps(record) + "\n" for record in merged))
        for part in parts:
            part.unlink(missing_ok=True)
    return merged


def _ordered(record: dict) -> dict:
    keys = ("path", "output", "status", "reason", "duration", "frames", "hop", "voiced_share")
    out = {key: record.get(key) for key in keys}
    out["rank"] = record.get("rank", 0)
    return out


# --- many devices through Lightning -------------------------------------------------


def _run_lightning(jobs, net, manifest, options, devices, num_nodes, accelerator):
    """The extraction under ``Trainer.predict`` with Lightning's DDP; returns this
    rank's records and its rank, after every rank is done."""
    import lightning as L

    class ExtractModule(L.LightningModule):
        """Wraps the network; the rank's :class:`_RankRun` does the work."""

        def __init__(self, network) -> None:
            super().__init__()
            self.net = network
            self.run: _RankRun | None = None

        def predict_dataloader(self):
            self.run = _RankRun(jobs, self.global_rank, self.trainer.world_size, manifest, options)
            return self.run.loader(self.net.sample_rate)

        def transfer_batch_to_device(self, batch, device, dataloader_idx):
            return batch  # chunks are padded into calls on the CPU, then moved

        def predict_step(self, batch, batch_idx):
            self.run.add(batch, self.net, self.device)

        def on_predict_epoch_end(self) -> None:
            self.run.finish(self.net, self.device)

    module = ExtractModule(net)
    world = devices * num_nodes
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=devices,
        num_nodes=num_nodes,
        strategy="ddp" if world > 1 else "auto",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,  # _RankRun splits the files: each goes to one rank
    )
    trainer.predict(module, return_predictions=False)
    if module.run is None:  # no dataloader was asked for (nothing to do on this rank)
        module.run = _RankRun(jobs, trainer.global_rank, trainer.world_size, manifest, options)
        module.run.loader(net.sample_rate)
    module.run.finish(module.net, module.device)
    trainer.strategy.barrier()  # every rank's part file is complete
    return module.run.records, trainer.global_rank
