"""Adaptation to the user's unlabelled audio: ``foldpitch.system.adapt``, ``foldpitch adapt``
and ``scripts/train.py experiment=adapt`` (needs the ``train`` extra).

A tiny network (random weights, periodicity biased towards voiced so that every frame
is trained) stands in for the shipped one; the audio is generated harmonic tones with a
vibrato, so the fold loss has a period to find.
"""

from __future__ import annotations

import importlib
import math
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

pytest.importorskip("lightning")

from foldpitch.cli import main as cli_main  # noqa: E402
from foldpitch.data import AudioFolder  # noqa: E402
from foldpitch.data._util import _rng  # noqa: E402
from foldpitch.loss import SelfSupervisedFoldLoss  # noqa: E402
from foldpitch.model import PitchNet, load_pitchnet  # noqa: E402
from foldpitch.predict import predict  # noqa: E402
from foldpitch.synth import harmonic_tone, vibrato_f0  # noqa: E402
from foldpitch.system import (  # noqa: E402
    HELD_BACK,
    AdaptationCollapsed,
    AdaptationGuard,
    PitchSystem,
    adapt,
    adaptation_objective,
    resolve_init_from,
)

ROOT = Path(__file__).resolve().parents[1]
RATE = 16000
THRESHOLD = 0.63  # the tiny base's voicing threshold: must survive adaptation
TINY_LOSS = {"temperature": 0.05, "periodicity_threshold": 0.7, "upsample": 2}


def tiny_net() -> PitchNet:
    torch.manual_seed(0)
    net = PitchNet(channels=16, n_blocks=2, n_period_bins=32, n_input_bins=64)
    with torch.no_grad():
        net.head.bias[-1] = 3.0  # periodicity about 0.95: frames called voiced
    net.voicing_threshold = THRESHOLD
    return net


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory) -> Path:
    net = tiny_net()
    path = tmp_path_factory.mktemp("base") / "tiny.ckpt"
    info = {
        "format_version": 1,
        "model_config": net.config(),
        "resolved_config": {"loss": dict(TINY_LOSS)},
        "voicing_threshold": THRESHOLD,
    }
    state = {"model." + k: v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "foldpitch": info, "global_step": 0}, path)
    return path


def write_tones(folder: Path, n_files: int = 5, seconds: float = 3.0, seed: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n_files):
        f0 = vibrato_f0(float(rng.uniform(100, 400)), 5.0, 50.0, RATE, int(seconds * RATE))
        sf.write(folder / f"tone{i}.wav", harmonic_tone(f0, RATE).numpy() * 0.5, RATE)
    return folder


def test_adaptation_objective_is_the_base_objective_without_the_chirped_table():
    loss = {
        "_target_": "foldpitch.loss.SelfSupervisedFoldLoss",
        "periodicity_threshold": 0.8,
        "periodicity_temperature": 0.1,
        "periodicity_weight": 0.0,  # as an adapted base stores it
        "chirps": [20, 40],
    }
    objective = adaptation_objective({"resolved_config": {"loss": loss}})
    expected = SelfSupervisedFoldLoss(periodicity_threshold=0.8, periodicity_temperature=0.1)
    assert objective.chirps == [] and objective.periodicity_weight == 1.0
    settings = ("hop_length", "temperature", "periodicity_threshold", "periodicity_temperature")
    settings += ("refine_weight", "kernel", "submultiple_margin", "upsample", "time_symmetric")
    for name in settings:
        assert getattr(objective, name) == getattr(expected, name), name
    # the shipped network was trained with the chirped table; its adaptation is not
    shipped_info = load_pitchnet(resolve_init_from("shipped"))[1]
    assert shipped_info["resolved_config"]["loss"]["chirps"] == [20, 40]
    shipped = adaptation_objective(shipped_info)
    assert shipped.chirps == [] and shipped.periodicity_threshold == 0.8


def test_audio_folder_part_draws_only_from_its_stretch(tmp_path):
    ramp = np.linspace(0, 1, 5 * RATE, endpoint=False, dtype=np.float32)  # value = position
    sf.write(tmp_path / "ramp.wav", ramp, RATE, subtype="FLOAT")
    tail = AudioFolder(tmp_path, seconds=0.5, length=20, seed=3, part=(0.8, 1.0))
    head = AudioFolder(tmp_path, seconds=0.5, length=20, seed=3, part=(0.0, 0.8))
    tail_values = torch.cat([tail[i]["audio"] for i in range(20)])
    head_values = torch.cat([head[i]["audio"] for i in range(20)])
    assert float(tail_values.min()) >= 0.8 - 1e-6
    assert float(head_values.max()) < 0.8
    # the default part is the whole file: the same items as before the option existed
    whole = AudioFolder(tmp_path, seconds=0.5, length=5, seed=3)
    draws = _rng(3, 2)  # the draws of item 2, as AudioFolder makes them
    draws.choice(1, p=np.ones(1))
    first = int(draws.integers(0, 5 * RATE - RATE // 2 + 1))
    assert torch.equal(whole[2]["audio"], torch.from_numpy(ramp[first : first + RATE // 2]))
    with pytest.raises(ValueError, match="part must satisfy"):
        AudioFolder(tmp_path, part=(0.5, 0.5))


def test_adapt_lowers_held_back_loss_and_writes_a_checkpoint_predict_takes(
    tmp_path, base_checkpoint
):
    audio = write_tones(tmp_path / "audio")
    out = tmp_path / "adapted.ckpt"
    summary = adapt(
        sorted(audio.iterdir()),
        out,
        init_from=base_checkpoint,
        steps=8,
        batch_size=4,
        seconds=0.5,
        learning_rate=3e-3,
        warmup_steps=1,
        validate_every=4,
        held_back_items=8,
        monitoring_items=2,
        progress_bar=False,
    )
    key = f"val/{HELD_BACK}/loss"
    assert summary["after"][key] < summary["before"][key] - 1e-3, summary["history"]
    assert summary["best_step"] > 0 and summary["stop_reason"] is None
    assert "val/tones_clean/raw_pitch_accuracy" in summary["before"]  # monitoring sets
    assert "val/tones_clean/raw_pitch_accuracy" in summary["after"]

    net, info = load_pitchnet(out)
    assert net.voicing_threshold == pytest.approx(THRESHOLD)
    assert info["init_from"] == str(base_checkpoint)
    base, _ = load_pitchnet(base_checkpoint)
    changed = [
        not torch.equal(a, b) for a, b in zip(net.parameters(), base.parameters(), strict=True)
    ]
    assert any(changed)
    # the voicing is the base's: only the head's pitch rows trained
    for name in ("stem", "blocks"):
        for a, b in zip(
            getattr(net, name).parameters(), getattr(base, name).parameters(), strict=True
        ):
            assert torch.equal(a, b), name
    assert torch.equal(net.head.weight[-1], base.head.weight[-1])
    assert torch.equal(net.head.bias[-1], base.head.bias[-1])
    assert not torch.equal(net.head.weight[:-1], base.head.weight[:-1])
    # the held-back loss recomputed independently from the written weights: the fold
    # loss that trains the pitch (the periodicity term, which does not train, left out)
    held = AudioFolder(
        sorted(audio.iterdir()), 0.5, RATE, length=8, seed=1, part=(0.8, 1.0)
    )  # adapt's held-back set: seed + 1
    batch = torch.stack([held[i]["audio"] for i in range(8)])
    objective = SelfSupervisedFoldLoss(**TINY_LOSS, periodicity_weight=0.0)

    def held_loss(model):
        with torch.no_grad():
            o = model(batch)
            terms = objective(batch, o.logits, o.offsets, o.periodicity_logits,
                              model.log2_period_edges)  # fmt: skip
        return float(terms["loss"])

    assert held_loss(net) == pytest.approx(summary["after"][key], rel=1e-3)
    assert held_loss(base) == pytest.approx(summary["before"][key], rel=1e-3)
    tone = harmonic_tone(torch.full((RATE,), 200.0, dtype=torch.float64), RATE)
    by_path = predict(tone, RATE, str(out), device="cpu")
    by_net = predict(tone, RATE, net, device="cpu")
    torch.testing.assert_close(by_path.f0, by_net.f0)
    assert torch.equal(by_path.voiced, by_net.periodicity > THRESHOLD)
    assert torch.equal(by_net.periodicity, predict(tone, RATE, base, device="cpu").periodicity)


def test_adapt_with_train_voicing_trains_the_whole_network(tmp_path, base_checkpoint):
    audio = write_tones(tmp_path / "audio", n_files=4)
    out = tmp_path / "adapted.ckpt"
    options = dict(init_from=base_checkpoint, steps=2, batch_size=2, seconds=0.5)
    adapt(sorted(audio.iterdir()), out, train_voicing=True, validate_every=1,
          held_back_items=2, monitoring_items=0, progress_bar=False, **options)  # fmt: skip
    net, info = load_pitchnet(out)
    base, _ = load_pitchnet(base_checkpoint)
    for name in ("stem", "blocks", "head"):
        pairs = zip(getattr(net, name).parameters(), getattr(base, name).parameters(), strict=True)
        assert any(not torch.equal(a, b) for a, b in pairs), name
    assert info["resolved_config"]["loss"]["periodicity_weight"] == 1.0


def test_cli_refuses_silent_and_too_short_audio(tmp_path, base_checkpoint, capsys):
    silent = tmp_path / "silent"
    silent.mkdir()
    for i in range(5):
        sf.write(silent / f"s{i}.wav", np.zeros(3 * RATE, np.float32), RATE)
    short = write_tones(tmp_path / "short", n_files=2, seconds=2.0)
    out = tmp_path / "x.ckpt"
    common = ["--out", str(out), "--checkpoint", str(base_checkpoint), "--steps", "2"]
    assert cli_main(["adapt", str(silent), *common]) == 1
    assert "silent" in capsys.readouterr().err
    assert cli_main(["adapt", str(short), *common]) == 1
    error = capsys.readouterr().err
    assert "too short" in error and "4.0 s in 2 file(s)" in error
    assert not out.exists()


def fake_trainer(metrics: dict, step: int) -> SimpleNamespace:
    return SimpleNamespace(
        sanity_checking=False,
        state=SimpleNamespace(fn="fit"),
        callback_metrics={k: torch.tensor(v) for k, v in metrics.items()},
        global_step=step,
        global_rank=0,
        should_stop=False,
    )


def held_metrics(loss: float, voiced: float = 0.9, spread: float = 300.0) -> dict:
    prefix = f"val/{HELD_BACK}"
    return {
        f"{prefix}/loss": loss,
        f"{prefix}/voiced_fraction": voiced,
        f"{prefix}/f0_spread_cents": spread,
    }


def test_guard_stops_early_after_sustained_worsening_and_keeps_the_best_weights(capsys):
    system = PitchSystem(tiny_net(), SelfSupervisedFoldLoss(**TINY_LOSS))
    guard = AdaptationGuard(patience=2)
    guard.start(system, held_metrics(1.0))
    for step, loss in ((10, 0.9), (20, 0.95), (30, 0.97)):
        with torch.no_grad():
            system.model.head.bias.fill_(step)  # a recognisable state per step
        trainer = fake_trainer(held_metrics(loss), step)
        guard.on_validation_end(trainer, system)
        assert trainer.should_stop == (step == 30)
    assert guard.best_step == 10 and guard.best_loss == pytest.approx(0.9)
    assert torch.all(guard.best_state["head.bias"] == 10)
    assert "early stop at step 30" in guard.stop_reason
    assert "early stop at step 30" in capsys.readouterr().err
    # one improvement resets the count
    guard = AdaptationGuard(patience=2)
    guard.start(system, held_metrics(1.0))
    for step, loss in ((10, 1.1), (20, 0.8), (30, 0.85)):
        trainer = fake_trainer(held_metrics(loss), step)
        guard.on_validation_end(trainer, system)
        assert not trainer.should_stop


@pytest.mark.parametrize(
    "voiced, spread, reason",
    [(0.005, 300.0, "all unvoiced"), (0.9, 1.0, "constant output")],
)
def test_guard_refuses_a_collapsed_network(tmp_path, voiced, spread, reason):
    from foldpitch.system import write_inference_checkpoint

    system = PitchSystem(tiny_net(), SelfSupervisedFoldLoss(**TINY_LOSS))
    guard = AdaptationGuard(patience=5)
    guard.start(system, held_metrics(1.0))
    trainer = fake_trainer(held_metrics(0.5, voiced, spread), 10)  # a lower loss, still
    guard.on_validation_end(trainer, system)
    assert trainer.should_stop and reason in system.collapse
    assert guard.best_step == 0  # the collapsed weights are never kept as the best
    with pytest.raises(AdaptationCollapsed, match=reason):
        write_inference_checkpoint(system, tmp_path / "c.ckpt", 10)
    assert not (tmp_path / "c.ckpt").exists()
    # a healthy network at the same point is not flagged
    healthy = AdaptationGuard(patience=5)
    healthy.start(PitchSystem(tiny_net(), SelfSupervisedFoldLoss()), held_metrics(1.0))
    assert healthy.collapse_reason(held_metrics(0.5, 0.5, 120.0)) is None


def test_experiment_adapt_composes_and_shipped_follows_predict(tmp_path, monkeypatch):
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    audio = write_tones(tmp_path / "audio", n_files=2)
    with initialize_config_dir(str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(
            "train",
            ["experiment=adapt", f"data.train.source={audio}", "hydra.run.dir=."],
            return_hydra_config=False,
        )
    assert cfg.init_from == "shipped" and cfg.adapt.voicing_threshold is None
    assert cfg.data.train._target_ == "foldpitch.data.AudioFolder"
    datamodule = instantiate(cfg.data)
    train, held = datamodule.train_set, datamodule.validation_sets[HELD_BACK]
    assert train.part == (0.0, 0.8) and held.part == (0.8, 1.0)
    assert held.files == train.files
    assert set(datamodule.validation_names) >= {HELD_BACK, "tones_clean", "speechlike"}
    predict_module = importlib.import_module("foldpitch.predict")
    assert resolve_init_from("shipped") == Path(predict_module.DEFAULT_CHECKPOINT)
    monkeypatch.setattr(predict_module, "DEFAULT_CHECKPOINT", tmp_path / "moved.ckpt")
    assert resolve_init_from(cfg.init_from) == tmp_path / "moved.ckpt"


def test_train_script_experiment_adapt_end_to_end(tmp_path, base_checkpoint):
    audio = write_tones(tmp_path / "audio", n_files=4)
    run_dir = tmp_path / "run"
    small = [f"data.validation.{name}.length=2" for name in ("tones_clean", "tones_10db")]
    small += [f"data.validation.{name}.seconds=0.5" for name in ("tones_clean", "tones_10db")]
    command = [
        sys.executable,
        str(ROOT / "scripts" / "train.py"),
        "experiment=adapt",
        "data=folder",
        f"data.train.source={audio}",
        f"init_from={base_checkpoint}",
        f"hydra.run.dir={run_dir}",
        "~data.validation.corpus",
        "~data.validation.speechlike",
        *small,
        "data.batch_size=2",
        "data.train.seconds=0.5",
        "data.validation.heldback.length=2",
        "trainer.max_steps=2",
        "trainer.val_check_interval=1",
        "trainer.enable_progress_bar=false",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "held-back fold loss" in result.stdout
    net, info = load_pitchnet(run_dir / "checkpoints" / "adapted.ckpt")
    assert net.voicing_threshold == pytest.approx(THRESHOLD)
    # it fine-tuned with the base's objective settings, not the config's loss group
    assert info["resolved_config"]["loss"]["upsample"] == TINY_LOSS["upsample"]
    assert math.isfinite(float(next(net.parameters()).detach().sum()))
    # adapt.train_voicing=false (the default): the layers below the head are the base's
    base, _ = load_pitchnet(base_checkpoint)
    below = zip(net.blocks.parameters(), base.blocks.parameters(), strict=True)
    assert all(torch.equal(a, b) for a, b in below)
    assert torch.equal(net.head.weight[-1], base.head.weight[-1])
    assert info["resolved_config"]["loss"]["periodicity_weight"] == 0.0
