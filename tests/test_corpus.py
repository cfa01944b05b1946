"""Corpus extraction (:mod:`foldpitch.corpus`, ``foldpitch predict --workers/--devices``).

The reference is :func:`foldpitch.predict.predict` run on each file on its own: the
corpus path must give the same frames (within predict's own chunking tolerance), and
every input must be accounted for exactly once in the manifest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from foldpitch.cli import main
from foldpitch.corpus import extract
from foldpitch.frontend import n_frames_for
from foldpitch.model import PitchNet
from foldpitch.predict import CHUNK_TOLERANCE, predict, viterbi_bins

ROOT = Path(__file__).resolve().parents[1]
# (sample rate, seconds): mixed rates and lengths; 2.6 s is longer than the 1 s chunks.
FILES = [(16000, 1.3), (22050, 2.6), (44100, 0.7), (8000, 1.9), (16000, 0.004)]


def random_net(seed: int = 0) -> PitchNet:
    torch.manual_seed(seed)
    return PitchNet(channels=16, n_blocks=4, n_period_bins=32).eval()


@pytest.fixture(scope="module")
def net() -> PitchNet:
    return random_net()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Tones with glides and noisy gaps at mixed rates, one corrupt file."""
    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for number, (rate, seconds) in enumerate(FILES):
        n = round(rate * seconds)
        t = np.arange(n) / rate
        f0 = 120 + 60 * number + 40 * t
        tone = 0.4 * np.sin(2 * np.pi * np.cumsum(f0) / rate) * (np.sin(2 * np.pi * t) > -0.3)
        audio = (tone + 0.02 * rng.standard_normal(n)).astype(np.float32)
        sub = folder / ("sub" if number % 2 else "")
        sub.mkdir(exist_ok=True)
        sf.write(sub / f"clip{number}.wav", audio, rate)
    (folder / "broken.wav").write_bytes(b"RIFF not really audio")
    return folder


def audio_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("clip*.wav"))


def reference(path: Path, net: PitchNet, hop: float | None = None):
    audio, rate = sf.read(path, dtype="float32")
    return predict(audio, rate, net, device="cpu", chunk_seconds=1.0, hop=hop)


def assert_track_matches(f0, periodicity, voiced, expected) -> None:
    """Same frames as ``predict``'s; f0 and periodicity within its chunking tolerance;
    the same voicing except where the periodicity sits on the threshold."""
    assert f0.shape == periodicity.shape == voiced.shape == tuple(expected.f0.shape)
    np.testing.assert_allclose(
        periodicity, expected.periodicity.numpy(), rtol=0, atol=CHUNK_TOLERANCE["periodicity_atol"]
    )
    on_edge = np.abs(expected.periodicity.numpy() - 0.5) < CHUNK_TOLERANCE["periodicity_atol"]
    same = voiced == expected.voiced.numpy()
    assert (same | on_edge).all(), np.flatnonzero(~same)
    both = voiced & expected.voiced.numpy()
    np.testing.assert_allclose(
        f0[both], expected.f0.numpy()[both], rtol=CHUNK_TOLERANCE["f0_rtol"], atol=0
    )


def read_manifest(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# --- the network on padded rows -----------------------------------------------------


def test_padded_rows_give_each_row_s_own_frames(net):
    generator = torch.Generator().manual_seed(2)
    lengths = [16000 * 3 + 17, 3000, 16000, 1]
    rows = [0.1 * torch.randn(n, generator=generator) for n in lengths]
    batch = torch.zeros(len(rows), max(lengths))
    for row, audio in zip(batch, rows, strict=True):
        row[: len(audio)] = audio
    with torch.inference_mode():
        padded = net(batch, torch.tensor(lengths))
        unmasked = net(batch)
        for item, audio in enumerate(rows):
            alone = net(audio[None])
            n = n_frames_for(len(audio), net.hop_length)
            for name in ("logits", "offsets", "periodicity_logits"):
                torch.testing.assert_close(
                    getattr(padded, name)[item, :n], getattr(alone, name)[0], rtol=0, atol=1e-4
                )
        # Without the lengths, the convolutions read the padding near a short row's end.
        n = n_frames_for(3000, net.hop_length)
        assert not torch.allclose(unmasked.logits[1, :n], padded.logits[1, :n], atol=1e-3)


@pytest.mark.parametrize("free_bins", [0, 1])
def test_viterbi_of_padded_rows_equals_each_row_alone(free_bins):
    rng = np.random.default_rng(5)
    n_bins, k = 24, 6
    allowed = np.arange(n_bins) < 20
    lengths = np.array([37, 5, 1, 60])
    bins = np.stack([rng.permutation(20)[:k] for _ in range(4 * 60)]).reshape(4, 60, k)
    logits = rng.normal(size=(4, 60, 20)) * 3
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    log_probs = np.take_along_axis(log_probs, bins, -1)
    padded_bins, padded_log_probs = bins.copy(), log_probs.copy()
    for row, n in enumerate(lengths):  # what lies past a row's end must not matter
        padded_bins[row, n:] = 0
        padded_log_probs[row, n:] = 0.0
    together = viterbi_bins(padded_bins, padded_log_probs, allowed, 0.7, lengths, free_bins)
    for row, n in enumerate(lengths):
        row_bins, row_log_probs = bins[row : row + 1, :n], log_probs[row : row + 1, :n]
        alone = viterbi_bins(row_bins, row_log_probs, allowed, 0.7, free_bins=free_bins)
        np.testing.assert_array_equal(together[row, :n], alone[0], err_msg=f"row {row}")


# --- results equal predict's ----------------------------------------------------------


@pytest.mark.parametrize("workers", [0, 2])
def test_npy_outputs_equal_predict_file_by_file(net, corpus, tmp_path, workers):
    files = audio_files(corpus)
    summary = extract(
        [*files, corpus / "broken.wav"],
        tmp_path,
        checkpoint=net,
        device="cpu",
        format="npy",
        chunk_seconds=1.0,
        batch_files=3,
        workers=workers,
        progress=False,
    )
    assert summary.count("done") == len(files) and summary.count("failed") == 1
    for path in files:
        expected = reference(path, net)
        arrays = [
            np.load(tmp_path / f"{path.stem}.{kind}.npy")
            for kind in ("f0", "periodicity", "voiced")
        ]
        f0, periodicity, voiced = arrays
        assert f0.dtype == periodicity.dtype == np.float32 and voiced.dtype == bool
        assert np.array_equal(np.isnan(f0), ~voiced)  # unvoiced frames are NaN
        assert_track_matches(f0, periodicity, voiced, expected)


def test_csv_with_a_hop_in_seconds_equals_predict(net, corpus, tmp_path):
    files = audio_files(corpus)
    hop = 0.004
    pairs = [(path, path.relative_to(corpus)) for path in files]
    extract(
        pairs, tmp_path, checkpoint=net, device="cpu", hop=hop, chunk_seconds=1.0, progress=False
    )
    for path, relative in pairs:
        expected = reference(path, net, hop=hop)
        table = np.loadtxt(
            tmp_path / relative.parent / f"{path.stem}.f0.csv", delimiter=",", skiprows=1, ndmin=2
        )
        np.testing.assert_allclose(table[:, 0], expected.times.numpy(), atol=6e-5)
        # The CSV keeps four decimals: up to 5e-5 of rounding on top of the tolerance.
        np.testing.assert_allclose(table[:, 1], expected.f0.numpy(), rtol=1e-4, atol=5e-5)
        np.testing.assert_allclose(table[:, 2], expected.periodicity.numpy(), atol=1.5e-4)
        on_edge = np.abs(expected.periodicity.numpy() - 0.5) < 1e-4
        assert ((table[:, 3] == expected.voiced.numpy()) | on_edge).all()


# --- manifest, failures, resuming ----------------------------------------------------


def test_manifest_lists_every_input_and_a_restart_skips_what_is_done(net, corpus, tmp_path):
    files = audio_files(corpus)
    options = dict(checkpoint=net, device="cpu", format="npy", progress=False)
    first = extract(files[:2], tmp_path, **options)
    assert [record["status"] for record in first.records] == ["done", "done"]
    # A killed run leaves its records in its part file, not in the manifest.
    manifest = tmp_path / "manifest.jsonl"
    manifest.rename(tmp_path / "manifest.jsonl.rank0.part")
    done_before = {
        path: (tmp_path / f"{path.stem}.f0.npy").stat().st_mtime_ns for path in files[:2]
    }

    second = extract([*files, corpus / "broken.wav", corpus / "missing.wav"], tmp_path, **options)
    records = read_manifest(manifest)
    assert records == second.records
    assert [record["path"] for record in records] == [
        str(path) for path in [*files, corpus / "broken.wav", corpus / "missing.wav"]
    ]
    statuses = [record["status"] for record in records]
    assert statuses == ["skipped", "skipped"] + ["done"] * (len(files) - 2) + ["failed"] * 2
    assert "cannot read" in records[-2]["reason"] and "no such audio file" in records[-1]["reason"]
    for path in files[:2]:  # not redone
        assert (tmp_path / f"{path.stem}.f0.npy").stat().st_mtime_ns == done_before[path]
    assert not list(tmp_path.glob("*.part"))
    for path, record in zip(files, records, strict=False):
        info = sf.info(path)
        assert record["duration"] == pytest.approx(info.frames / info.samplerate)
        voiced = np.load(tmp_path / f"{path.stem}.voiced.npy")
        assert record["frames"] == len(voiced) == len(reference(path, net).f0)
        assert record["voiced_share"] == pytest.approx(voiced.mean(), abs=1e-6)
        assert record["hop"] == pytest.approx(0.01)
    assert second.count("skipped") == 2 and "2 skipped" in second.line()


def test_bad_options_name_the_argument(net):
    with pytest.raises(ValueError, match="format must be one of"):
        extract([], None, checkpoint=net, format="mp3")
    with pytest.raises(ValueError, match="workers must be a non-negative"):
        extract([], None, checkpoint=net, workers=-1)
    with pytest.raises(ValueError, match="hop must be a positive"):
        extract([], None, checkpoint=net, hop=0.0)
    with pytest.raises(TypeError, match="inputs must be paths"):
        extract([3], None, checkpoint=net)
    with pytest.raises(ValueError, match="devices needs out_dir or manifest"):
        extract([], None, checkpoint=net, devices=2)


# --- the command, one process and two ---------------------------------------------


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    net = random_net(seed=7)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.ckpt"
    state = {
        "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
        "foldpitch": {"format_version": 1, "model_config": net.config()},
        "global_step": 0,
    }
    torch.save(state, path)
    return path


def test_cli_corpus_path_reports_a_summary(tiny_checkpoint, corpus, tmp_path, capsys):
    arguments = ["predict", str(corpus), "--checkpoint", str(tiny_checkpoint), "--out-dir"]
    code = main([*arguments, str(tmp_path), "--workers", "1", "--format", "json"])
    error = capsys.readouterr().err
    assert code == 1  # the broken file
    files = len(FILES) + 1
    assert f"{files} files: {len(FILES)} done, 0 skipped (outputs exist), 1 failed" in error
    assert "h of audio" in error and "RTF" in error and "broken.wav" in error
    assert (tmp_path / "sub" / "clip1.f0.json").is_file()
    assert len(read_manifest(tmp_path / "manifest.jsonl")) == files
    assert main([*arguments, str(tmp_path), "--workers", "-1"]) == 2


def test_two_ddp_processes_split_the_files_and_equal_one_process(tiny_checkpoint, corpus, tmp_path):
    pytest.importorskip("lightning")
    single, double = tmp_path / "single", tmp_path / "double"
    common = ["predict", str(corpus), "--checkpoint", str(tiny_checkpoint), "--format", "npy"]
    assert main([*common, "--out-dir", str(single), "--workers", "0"]) == 1
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT / "src"))
    command = [sys.executable, "-m", "foldpitch.cli", *common, "--out-dir", str(double)]
    command += ["--devices", "2", "--accelerator", "cpu"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 1, result.stderr[-3000:]  # the broken file, reported once
    records = read_manifest(double / "manifest.jsonl")
    paths = [record["path"] for record in records]
    assert len(paths) == len(set(paths)) == len(FILES) + 1  # each input exactly once
    assert {record["rank"] for record in records} == {0, 1}
    for record in records:  # file i went to rank i % 2
        assert record["rank"] == paths.index(record["path"]) % 2
    outputs = sorted(path.relative_to(single) for path in single.rglob("*.npy"))
    assert outputs == sorted(path.relative_to(double) for path in double.rglob("*.npy"))
    for relative in outputs:
        a, b = np.load(single / relative), np.load(double / relative)
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=1e-4, atol=1e-4)
    assert not list(double.glob("*.part"))


def test_import_foldpitch_stays_cheap():
    code = "import sys, foldpitch, foldpitch.corpus; sys.exit('lightning' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0
