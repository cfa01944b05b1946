"""The training pipeline end to end: scripts/train.py with Hydra, Lightning and loggers.

These run ``python scripts/train.py experiment=fast`` in a subprocess (a few seconds
each); they need the ``train`` extra.
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

pytest.importorskip("lightning")
pytest.importorskip("hydra")

from foldpitch.data import SyntheticCorpus  # noqa: E402
from foldpitch.model import load_pitchnet  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def run_train(run_dir: Path, *overrides: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        "experiment=fast",
        f"hydra.run.dir={run_dir}",
        *overrides,
    ]
    result = subprocess.run(
        command, cwd=run_dir.parent, capture_output=True, text=True, env=env, timeout=timeout
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def rank_report(run_dir: Path, rank: int = 0) -> dict:
    return json.loads((run_dir / "ranks" / f"rank{rank}.json").read_text())


def test_fast_experiment_trains_and_writes_a_self_contained_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    result = run_train(run_dir, "logger=csv")
    assert "foldpitch training finished" in result.stdout
    assert "last checkpoint:" in result.stdout
    report = rank_report(run_dir)
    assert report["steps"] == 12 and report["world_size"] == 1
    assert report["samples_seen_this_rank"] == 12 * 4 * 8000  # steps x batch x samples
    assert "val/tones_clean/raw_pitch_accuracy" in report["validation"]
    assert (run_dir / "config.yaml").is_file()

    # Inference rebuilds the model from the checkpoint alone.
    model, info = load_pitchnet(report["last_checkpoint"])
    assert info["model_config"]["channels"] == 16
    assert info["resolved_config"]["loss"]["_target_"] == "foldpitch.loss.SelfSupervisedFoldLoss"
    assert info["global_step"] == 12
    assert info["commit"] is None or len(info["commit"].split("+")[0]) == 40
    out = model(torch.randn(1, 1600))
    assert out.logits.shape == (1, 10, 32)

    # The CSV logger got losses, validation metrics, the learning rate and figures.
    metrics = next((run_dir / "csv").rglob("metrics.csv")).read_text().splitlines()[0]
    for column in ("train/loss", "train/soft_argmin", "val/tones_10db/raw_pitch_accuracy"):
        assert column in metrics
    assert any("lr" in c for c in metrics.split(","))
    assert list((run_dir / "csv").rglob("figures/*.png"))


def test_default_logger_is_wandb_offline(tmp_path):
    run_dir = tmp_path / "run"
    run_train(run_dir)
    runs = list((run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((run_dir / "wandb").iterdir())


def test_no_logger(tmp_path):
    run_dir = tmp_path / "run"
    run_train(run_dir, "logger=none")
    assert rank_report(run_dir)["steps"] == 12
    assert not (run_dir / "wandb").exists() and not (run_dir / "csv").exists()


def test_resume_continues_from_the_checkpoint(tmp_path):
    first = tmp_path / "first"
    run_train(first, "logger=none")
    checkpoint = rank_report(first)["last_checkpoint"]
    second = tmp_path / "second"
    run_train(second, "logger=none", f"resume={checkpoint}", "trainer.max_steps=18")
    report = rank_report(second)
    assert report["steps"] == 18
    # Samples seen are restored from the checkpoint and only 6 new steps were run.
    assert report["samples_seen_this_rank"] == 18 * 4 * 8000
    assert torch.load(report["last_checkpoint"], weights_only=True)["global_step"] == 18


def test_ddp_on_two_cpu_processes(tmp_path):
    run_dir = tmp_path / "run"
    run_train(run_dir, "trainer=ddp", "logger=csv", timeout=300)
    reports = [rank_report(run_dir, rank) for rank in (0, 1)]
    for rank, report in enumerate(reports):
        assert report["rank"] == rank and report["world_size"] == 2
        assert report["steps"] == 12
        assert report["samples_seen_this_rank"] == 12 * 4 * 8000  # both ranks trained
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    # Written once (by rank 0): one last and one best, no duplicates (-v1) from rank 1.
    assert len(checkpoints) == 2 and checkpoints[1] == "last.ckpt", checkpoints
    assert checkpoints[0].startswith("best-step=") and "-v" not in checkpoints[0], checkpoints


def test_training_on_a_folder_of_audio(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i, rate in enumerate((16000, 22050, 44100)):
        t = np.arange(rate) / rate
        sf.write(folder / f"tone{i}.wav", 0.3 * np.sin(2 * np.pi * 150 * (i + 1) * t), rate)
    (folder / "broken.wav").write_bytes(b"not audio")
    run_dir = tmp_path / "run"
    result = run_train(run_dir, "logger=none", "data=folder", f"data.train.source={folder}")
    assert "broken.wav" in result.stderr  # skipped with a warning, not a crash
    assert rank_report(run_dir)["steps"] == 12
    del rng


def test_empty_folder_fails_before_training(tmp_path):
    (tmp_path / "empty").mkdir()
    env = dict(os.environ, WANDB_MODE="offline")
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "train.py"),
            "experiment=fast",
            "logger=none",
            f"hydra.run.dir={tmp_path / 'run'}",
            "data=folder",
            f"data.train.source={tmp_path / 'empty'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert "no readable audio" in result.stderr or "no readable audio" in result.stdout
    assert not (tmp_path / "run" / "checkpoints").exists()


# --- the no-labels guarantee ----------------------------------------------------------


class RecordingBatch(dict):
    """A batch that records which keys the training step reads."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: list[str] = []

    def __getitem__(self, key):
        self.read.append(key)
        return super().__getitem__(key)


def _fast_system():
    from foldpitch.loss import SelfSupervisedFoldLoss
    from foldpitch.model import PitchNet
    from foldpitch.system import PitchSystem

    model = PitchNet(n_input_bins=64, channels=16, n_blocks=2, n_period_bins=32)
    return PitchSystem(model, SelfSupervisedFoldLoss(upsample=2))


@pytest.mark.filterwarnings(r"ignore:You are trying to `self.log\(\)`:UserWarning")
def test_training_data_and_step_use_no_labels():
    from foldpitch.system import PitchDataModule

    corpus = SyntheticCorpus(length=8, seconds=0.5)
    datamodule = PitchDataModule(corpus, batch_size=4, num_workers=0)
    batch = next(iter(datamodule.train_dataloader()))
    assert set(batch) == {"audio"}  # the dataset yields no labels

    system = _fast_system()
    recording = RecordingBatch(batch)
    loss = system.training_step(recording, 0)
    assert torch.isfinite(loss)
    assert set(recording.read) == {"audio"}  # and the step reads nothing else

    labelled = dict(batch, f0=torch.ones(4, 50))
    with pytest.raises(ValueError, match="only unlabelled 'audio'"):
        system.training_step(labelled, 0)


def test_non_finite_loss_stops_training():
    system = _fast_system()
    audio = torch.randn(2, 8000)
    audio[0, 100] = float("nan")
    with pytest.raises(FloatingPointError, match="non-finite training loss"):
        system.training_step({"audio": audio}, 0)


def test_hydra_configs_compose_and_instantiate():
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(
            config_name="train",
            overrides=["trainer=ddp", "hydra.run.dir=x"],
            return_hydra_config=False,
        )
        assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2
        assert cfg.logger.offline is True  # wandb offline by default
        model = instantiate(cfg.model)
        objective = instantiate(cfg.loss)
        assert model.hop_length == objective.hop_length == cfg.hop_length
        assert model.fmin == cfg.fmin and model.fmax == cfg.fmax
        cfg = compose(config_name="train", overrides=["logger=csv", "trainer=gpu"])
        assert cfg.logger._target_.endswith("CSVLogger") and cfg.trainer.accelerator == "gpu"
