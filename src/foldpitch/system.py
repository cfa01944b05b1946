"""Training with Lightning: the LightningModule, the DataModule and the training run.

Needs the ``train`` extra (``pip install -e ".[train]"``: lightning, hydra-core, wandb).
The entry point is ``python scripts/train.py`` (Hydra configs in ``configs/``), which
calls :func:`train`.

No pitch label reaches the optimiser: training batches hold only ``"audio"``, and
optionally ``"clean"``, the same audio before an added noise
(:meth:`PitchSystem.training_step` refuses anything else), and the objective is
:class:`foldpitch.loss.SelfSupervisedFoldLoss`. The labelled sets are used in
validation only, to *monitor* raw pitch accuracy, cents error and voicing.

Adaptation (:func:`adapt`, ``foldpitch adapt``; :func:`adapt_from_config`,
``scripts/train.py experiment=adapt``) fine-tunes a trained network on the user's
unlabelled audio the same way, from its weights, watched by the fold loss on a held-back
part of that audio (:class:`AdaptationGuard`: best weights kept, early stop, collapse
refused); see ``docs/adapting.md``.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from . import _checks
from ._optional import require
from .loss import SelfSupervisedFoldLoss
from .loss._common import _check_audio
from .metrics import pitch_metrics
from .model import CHECKPOINT_FORMAT, PitchNet, PitchNetOutput

L = require("lightning", "train", "training (foldpitch.system)")

__all__ = [
    "AdaptationCollapsed",
    "AdaptationGuard",
    "PitchDataModule",
    "PitchSystem",
    "adapt",
    "adapt_from_config",
    "run_adaptation",
    "train",
]


class PitchSystem(L.LightningModule):
    """The network and its self-supervised objective, with AdamW and a cosine schedule.

    Args:
        model: the network.
        objective: the fold-loss objective; its ``hop_length`` must be the model's.
        learning_rate: peak AdamW learning rate.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warm-up steps; then cosine decay to 1 % at ``total_steps``.
        total_steps: length of the schedule (the trainer's ``max_steps``).
        n_figure_clips: validation clips drawn in the f0 figure (0: none).
    """

    def __init__(
        self,
        model: PitchNet,
        objective: SelfSupervisedFoldLoss,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        warmup_steps: int = 200,
        total_steps: int = 10000,
        n_figure_clips: int = 4,
    ) -> None:
        super().__init__()
        if objective.hop_length != model.hop_length:
            raise ValueError(
                f"objective.hop_length ({objective.hop_length}) must equal the model's "
                f"hop_length ({model.hop_length})"
            )
        self.model = model
        self.objective = objective
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_steps = warmup_steps
        self.total_steps = total_steps
        self.n_figure_clips = n_figure_clips
        self.resolved_config: dict | None = None  # set by train(): saved in checkpoints
        self.commit: str | None = None  # the code's git commit, set by train()
        self.samples_seen = 0
        self.init_from: str | None = None  # the checkpoint whose weights it started from
        self.collapse: str | None = None  # set by AdaptationGuard: no checkpoint is written
        self._validation: dict[str, list[dict[str, Tensor]]] = {}

    # --- training -----------------------------------------------------------------

    def fold_loss(
        self, audio: Tensor, clean: Tensor | None = None
    ) -> tuple[PitchNetOutput, dict[str, Tensor]]:
        """The network's output for audio ``(batch, time)`` and the objective's terms,
        computed on ``clean`` (same shape: the audio before an added noise, see
        :class:`foldpitch.data.AddNoise`) when given, else on ``audio``.

        Raises ``ValueError`` for non-finite audio or clean audio of another shape, and
        ``FloatingPointError`` when the network's output is not finite (diverged
        weights), before the objective sees it."""
        _check_audio(audio)
        if clean is None:
            clean = audio
        elif _check_audio(clean, "clean").shape != audio.shape:
            raise ValueError(
                f"clean must have the shape of audio {tuple(audio.shape)}, got {tuple(clean.shape)}"
            )
        out = self.model(audio)
        outputs = (out.logits, out.offsets, out.periodicity_logits)
        if not bool(torch.stack([output.isfinite().all() for output in outputs]).all()):
            raise FloatingPointError(
                f"non-finite network output at step {self.global_step}: the weights have "
                "diverged; stopping before they reach a checkpoint (lower "
                "optim.learning_rate, or resume from the last checkpoint)"
            )
        terms = self.objective(
            clean, out.logits, out.offsets, out.periodicity_logits, self.model.log2_period_edges
        )
        return out, terms

    def training_step(self, batch: Mapping[str, Tensor], batch_index: int) -> Tensor:
        if set(batch) not in ({"audio"}, {"audio", "clean"}):
            raise ValueError(
                "training batches must hold only unlabelled 'audio' (and optionally its "
                f"'clean' version before added noise), got keys {sorted(batch)}"
            )
        _, terms = self.fold_loss(batch["audio"], batch.get("clean"))
        if not torch.isfinite(terms["loss"]):
            raise FloatingPointError(
                f"non-finite training loss at step {self.global_step}: stopping before a "
                "NaN reaches the weights or a checkpoint (lower optim.learning_rate, or "
                "resume from the last checkpoint)"
            )
        self.samples_seen += batch["audio"].numel()
        batch_size = batch["audio"].shape[0]
        for name, value in terms.items():
            self.log(f"train/{name}", value, prog_bar=name == "loss", batch_size=batch_size)
        return terms["loss"]

    def on_before_optimizer_step(self, optimizer) -> None:
        # A finite loss can still give an infinite gradient; clipping would turn it into
        # NaN weights, and the next checkpoint would save them. Stop here instead.
        gradients = [p.grad for p in self.parameters() if p.grad is not None]
        if gradients and not bool(torch.stack([g.isfinite().all() for g in gradients]).all()):
            names = [
                name
                for name, p in self.named_parameters()
                if p.grad is not None and not bool(p.grad.isfinite().all())
            ]
            raise FloatingPointError(
                f"non-finite gradient at step {self.global_step} in {', '.join(names[:3])}"
                f"{' ...' if len(names) > 3 else ''}: stopping before the optimiser writes "
                "it into the weights (lower optim.learning_rate, or resume from the last "
                "checkpoint)"
            )

    def configure_optimizers(self):
        optimizer = torch.optim.AdamW(
            self.parameters(), lr=self.learning_rate, weight_decay=self.weight_decay
        )

        def schedule(step: int) -> float:
            if step < self.warmup_steps:
                return (step + 1) / self.warmup_steps
            progress = min(
                1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
            )
            return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }

    # --- monitoring (labels used here only) --------------------------------------

    def validation_step(self, batch, batch_index: int, dataloader_idx: int = 0) -> None:
        name = self.trainer.datamodule.active_validation_names()[dataloader_idx]
        out, terms = self.fold_loss(batch["audio"])
        self.log(f"val/{name}/loss", terms["loss"], add_dataloader_idx=False, sync_dist=True)
        periodicity = torch.sigmoid(out.periodicity_logits).detach()
        part = {
            "f0": self.model.frequency(self.model.log2_period(out)).detach(),
            "voiced": periodicity > 0.5,
            # The network's own decision, for the collapse guard of adaptation runs.
            "voiced_at_threshold": periodicity > self.model.voicing_threshold,
        }
        if "f0" in batch:  # a labelled monitoring set; unlabelled ones report the loss
            part.update(true_f0=batch["f0"], true_voiced=batch["voiced"])
        self._validation.setdefault(name, []).append(part)

    def on_validation_epoch_end(self) -> None:
        for name, parts in self._validation.items():
            merged = {key: torch.cat([p[key] for p in parts]).float() for key in parts[0]}
            # Every rank scores all ranks' clips, so all log the same values.
            merged = {key: self.all_gather(value).flatten(0, -2) for key, value in merged.items()}
            for key in ("voiced", "true_voiced", "voiced_at_threshold"):
                if key in merged:
                    merged[key] = merged[key] > 0.5
            decided = merged.pop("voiced_at_threshold")
            self.log(
                f"val/{name}/voiced_fraction",
                decided.float().mean(),
                add_dataloader_idx=False,
                sync_dist=True,
            )
            self.log(
                f"val/{name}/f0_spread_cents",
                output_spread_cents(merged["f0"], decided),
                add_dataloader_idx=False,
                sync_dist=True,
            )
            if "true_f0" not in merged:
                continue
            metrics = pitch_metrics(**merged)
            for key in (
                "raw_pitch_accuracy",
                "octave_error_rate",
                "voicing_recall",
                "voicing_false_alarm",
                "median_cents",
            ):
                value = metrics[key]
                if not math.isnan(value):
                    self.log(f"val/{name}/{key}", value, add_dataloader_idx=False, sync_dist=True)
            if name == next(iter(self._validation)) and self.n_figure_clips:
                self._log_figure(name, merged)
        self._validation.clear()

    def _log_figure(self, name: str, merged: dict[str, Tensor]) -> None:
        logger = self.logger
        if logger is None or self.trainer.sanity_checking or self.global_rank != 0:
            return
        figure = f0_figure(
            merged,
            self.model.hop_length / self.model.sample_rate,
            self.n_figure_clips,
            f"{name}, step {self.global_step}",
        )
        if type(logger).__name__ == "WandbLogger":
            logger.log_image(key=f"val/{name}/f0", images=[figure], step=self.global_step)
        elif getattr(logger, "log_dir", None):
            folder = Path(logger.log_dir) / "figures"
            folder.mkdir(parents=True, exist_ok=True)
            figure.savefig(folder / f"{name}_step{self.global_step:07d}.png", dpi=90)
        import matplotlib.pyplot as plt

        plt.close(figure)

    # --- checkpoints ------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # Never write weights that are not finite: a NaN checkpoint would look complete.
        broken = [
            name for name, value in self.model.state_dict().items() if not value.isfinite().all()
        ]
        if broken:
            raise FloatingPointError(
                f"refusing to write a checkpoint at step {self.global_step}: non-finite "
                f"weights in {', '.join(broken[:3])}{' ...' if len(broken) > 3 else ''}"
            )
        if self.collapse is not None:
            raise AdaptationCollapsed(
                f"refusing to write a checkpoint at step {self.global_step}: {self.collapse}"
            )
        # Everything inference needs, readable without Lightning or Hydra.
        checkpoint["foldpitch"] = {
            "format_version": CHECKPOINT_FORMAT,
            "model_config": self.model.config(),
            "resolved_config": self.resolved_config,
            "commit": self.commit,
            "samples_seen": self.samples_seen,
            "voicing_threshold": self.model.voicing_threshold,
        }
        if self.init_from is not None:
            checkpoint["foldpitch"]["init_from"] = self.init_from

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.samples_seen = checkpoint.get("foldpitch", {}).get("samples_seen", 0)


def output_spread_cents(f0: Tensor, voiced: Tensor) -> Tensor:
    """Standard deviation in cents of ``f0`` (Hz) over the ``voiced`` frames (0 when
    fewer than two): about 0 for a network whose output no longer depends on its
    input."""
    cents = 1200 * torch.log2(f0[voiced].double())
    if cents.numel() < 2:
        return torch.zeros((), dtype=torch.float64, device=f0.device)
    return cents.std()


def f0_figure(merged: dict[str, Tensor], hop_seconds: float, n_clips: int, title: str):
    """Predicted against true f0 (voiced frames) for the first ``n_clips`` clips."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_clips = min(n_clips, merged["f0"].shape[0])
    figure, axes = plt.subplots(1, n_clips, figsize=(3.2 * n_clips, 2.8), squeeze=False)
    for clip, axis in enumerate(axes[0]):
        times = torch.arange(merged["f0"].shape[-1]) * hop_seconds
        truth = torch.where(merged["true_voiced"][clip], merged["true_f0"][clip], float("nan"))
        guess = torch.where(merged["voiced"][clip], merged["f0"][clip], float("nan"))
        axis.semilogy(times, truth.cpu(), color="black", linewidth=3, alpha=0.35, label="true")
        axis.semilogy(times, guess.cpu(), ".", color="tab:red", markersize=2.5, label="predicted")
        axis.set(xlabel="time (s)", ylabel="f0 (Hz)" if clip == 0 else None)
    axes[0, 0].legend(loc="best", fontsize=7)
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    return figure


class PitchDataModule(L.LightningDataModule):
    """Unlabelled training audio and labelled monitoring sets.

    Args:
        train: a dataset of ``{"audio": (n_samples,)}`` items (e.g.
            :class:`foldpitch.data.SyntheticCorpus`, :class:`foldpitch.data.AudioFolder`),
            or of ``{"audio", "clean"}`` items (:class:`foldpitch.data.AddNoise`).
        validation: named datasets with ``"audio"``, ``"f0"``, ``"voiced"`` (e.g.
            :class:`foldpitch.data.LabelledSyntheticSet`), used for monitoring only.
        batch_size: training and validation batch size.
        num_workers: DataLoader worker processes for the training set.
    """

    def __init__(
        self,
        train: Dataset,
        validation: Mapping[str, Dataset] | None = None,
        batch_size: int = 16,
        num_workers: int = 1,
    ) -> None:
        super().__init__()
        self.train_set = train
        self.validation_sets = dict(validation or {})
        self.validation_names = list(self.validation_sets)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.fit_validation: list[str] | None = None  # see active_validation_names

    def active_validation_names(self) -> list[str]:
        """The sets validated now: all of them, except while fitting when
        :attr:`fit_validation` names a subset (an adaptation run validates only the
        held-back audio during training, and its monitoring sets before and after)."""
        trainer = getattr(self, "trainer", None)
        fitting = trainer is not None and trainer.state.fn == "fit"
        if fitting and self.fit_validation is not None:
            return list(self.fit_validation)
        return self.validation_names

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train_set,
            batch_size=self.batch_size,
            shuffle=True,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            drop_last=True,
        )

    def val_dataloader(self) -> list[DataLoader]:
        return [
            DataLoader(self.validation_sets[name], batch_size=self.batch_size)
            for name in self.active_validation_names()
        ]


def skipped_files(dataset) -> int | None:
    """Unreadable files skipped by the :class:`foldpitch.data.AudioFolder` sets inside
    ``dataset`` (found through ``.dataset``, ``.datasets`` and ``.backgrounds``), or
    ``None`` when it holds none."""
    counts = []
    stack = [dataset]
    while stack:
        node = stack.pop()
        if isinstance(getattr(node, "skipped", None), int):
            counts.append(node.skipped)
        stack.extend(getattr(node, "datasets", None) or [])
        stack.extend(getattr(node, "backgrounds", None) or [])
        if getattr(node, "dataset", None) is not None:
            stack.append(node.dataset)
    return sum(counts) if counts else None


def train(cfg) -> dict:
    """Build everything from a composed Hydra config and train; returns the summary.

    ``cfg`` is the config of ``configs/train.yaml``. Objects are built with
    ``hydra.utils.instantiate``; checkpoints (``last.ckpt`` and the best by
    ``val/<first set>/raw_pitch_accuracy``) go to ``<output_dir>/checkpoints`` with the
    resolved config inside them and beside them (``config.yaml``). ``cfg.resume``
    continues from a checkpoint; ``cfg.init_from`` (a path, or ``"shipped"``) starts from
    a checkpoint's weights only (its own network arguments replace ``cfg.model``; fresh
    optimiser and schedule). With an ``adapt`` block (``experiment=adapt``) the run is an
    adaptation instead: :func:`adapt_from_config`. With ``cfg.checkpoint_every_n_steps`` (an int),
    ``last.ckpt`` is also rewritten every that many training steps, so a run killed
    mid-epoch resumes close to where it stopped and finishes with the same number of
    steps (Lightning writes checkpoints atomically: a kill never leaves half of one); with
    ``cfg.keep_checkpoints`` also ``step=N.ckpt`` every that many steps, kept, to
    choose the checkpoint on a dev set afterwards.

    Training on a folder of audio: files that cannot be read are skipped with one
    warning each (see :class:`foldpitch.data.AudioFolder`) and counted in the summary
    (``skipped_audio_files``: those found by the scan before training, plus those whose
    samples failed in any process, DataLoader workers included, also through wrappers
    such as :class:`foldpitch.data.AddNoise`); a folder without readable audio fails
    before training.
    """
    instantiate = require("hydra.utils", "train", "training (foldpitch.system)").instantiate
    OmegaConf = require("omegaconf", "train", "training (foldpitch.system)").OmegaConf

    if cfg.get("adapt") is not None:
        return adapt_from_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.output_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    datamodule = instantiate(cfg.data)
    base = None
    if cfg.get("init_from") is not None:  # weights only: fresh optimiser and schedule
        model, base = load_initial_weights(cfg.init_from)
    else:
        model = instantiate(cfg.model)
    objective = instantiate(cfg.loss)
    system = PitchSystem(model, objective, total_steps=cfg.trainer.max_steps, **cfg.optim)
    system.init_from = base["path"] if base else None  # recorded in every checkpoint
    system.resolved_config = resolved
    system.commit = git_commit()

    callbacks = []
    monitor = (
        f"val/{datamodule.validation_names[0]}/raw_pitch_accuracy"
        if datamodule.validation_names
        else None
    )
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(
        dirpath=output_dir / "checkpoints",
        filename="best-{step}",
        monitor=monitor,
        mode="max",
        save_last=True,  # Lightning updates last.ckpt when it saves a best one ...
        save_top_k=1 if monitor else 0,
        enable_version_counter=False,  # ... the same file as below, not last-v1.ckpt
    )
    logger = instantiate(cfg.logger) if cfg.logger else False
    callbacks.append(checkpoint)
    every = cfg.get("checkpoint_every_n_steps")
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(
                f"checkpoint_every_n_steps must be a positive integer or null, got {every!r}"
            )
        keep = bool(cfg.get("keep_checkpoints", False))
        callbacks.append(
            L.pytorch.callbacks.ModelCheckpoint(
                dirpath=output_dir / "checkpoints",
                filename="{step}",
                every_n_train_steps=every,
                save_top_k=-1 if keep else 0,  # keep: one file per step, to choose on dev
                save_last=True,
                enable_version_counter=False,
            )
        )
    if logger:
        callbacks.append(L.pytorch.callbacks.LearningRateMonitor("step"))
    trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=logger)
    if trainer.global_rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))

    started = time.perf_counter()
    trainer.fit(system, datamodule=datamodule, ckpt_path=cfg.resume)
    seconds = time.perf_counter() - started
    # ... so write the final weights as last.ckpt ourselves (rank 0 writes it).
    last_checkpoint = output_dir / "checkpoints" / "last.ckpt"
    trainer.save_checkpoint(last_checkpoint)
    final = trainer.validate(system, datamodule=datamodule, verbose=False) if monitor else [{}]

    summary = {
        "rank": trainer.global_rank,
        "world_size": trainer.world_size,
        "steps": trainer.global_step,
        "samples_seen_this_rank": system.samples_seen,
        "train_seconds": round(seconds, 1),
        "last_checkpoint": str(last_checkpoint),
        "best_checkpoint": checkpoint.best_model_path,
        "validation": {k: round(float(v), 4) for part in final for k, v in part.items()},
    }
    skipped = skipped_files(datamodule.train_set)
    if skipped is not None:  # a folder of the user's audio, maybe wrapped
        summary["skipped_audio_files"] = skipped
    # One report per rank: DDP runs can be checked rank by rank.
    reports = output_dir / "ranks"
    reports.mkdir(parents=True, exist_ok=True)
    (reports / f"rank{trainer.global_rank}.json").write_text(json.dumps(summary, indent=2))
    if trainer.global_rank == 0:
        _print_summary(summary, output_dir)
    return summary


def git_commit() -> str | None:
    """The source tree's commit (``+dirty`` when files differ from it), or None."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def _print_summary(summary: dict, output_dir: Path) -> None:
    lines = [
        "",
        "foldpitch training finished",
        f"  steps: {summary['steps']} ({summary['train_seconds']} s, "
        f"world size {summary['world_size']})",
    ]
    if "skipped_audio_files" in summary:
        lines.append(f"  unreadable audio files skipped: {summary['skipped_audio_files']}")
    for key, value in sorted(summary["validation"].items()):
        lines.append(f"  {key}: {value}")
    lines += [
        f"  last checkpoint: {summary['last_checkpoint']}",
        f"  best checkpoint: {summary['best_checkpoint'] or '(none)'}",
        f"  config and logs: {output_dir}",
    ]
    print("\n".join(lines), flush=True)


# --- adaptation: fine-tuning a trained network on the user's unlabelled audio ----------

SHIPPED = "shipped"
"""``init_from`` value naming the shipped network (``foldpitch.predict``'s default)."""

HELD_BACK = "heldback"
"""Name of the validation set of held-back user audio in an adaptation run."""

MIN_ADAPT_SECONDS = 10.0
"""Less audio than this (all files together) is refused: too little to learn from."""

SILENCE_PEAK = 1e-4
"""Audio whose sampled excerpts never exceed this amplitude (-80 dBFS) is refused."""

COLLAPSE_VOICED_FRACTION = 0.02
"""Collapse guard: the held-back audio is called voiced on fewer than this fraction of
its frames (while the base network found at least five times as many)."""

COLLAPSE_SPREAD_CENTS = 5.0
"""Collapse guard: the f0 over the held-back voiced frames varies by less than this
(standard deviation, cents) while the base network's varied by at least 50 cents."""


class AdaptationCollapsed(RuntimeError):
    """Adaptation drove the network to a degenerate output; nothing was written."""


def resolve_init_from(init_from) -> Path:
    """The checkpoint an adaptation starts from: ``"shipped"`` (or ``None``) is the model
    :func:`foldpitch.predict.predict` uses by default (looked up when called, so it
    follows wherever the package keeps it); anything else is a path."""
    if init_from is None or init_from == SHIPPED:
        # The module, not the function foldpitch.predict that shadows it on the package.
        predict_module = importlib.import_module("foldpitch.predict")
        return Path(predict_module.DEFAULT_CHECKPOINT)
    if not isinstance(init_from, (str, Path)):
        raise TypeError(f"init_from must be a checkpoint path or 'shipped', got {init_from!r}")
    return Path(init_from)


def load_initial_weights(init_from):
    """``(model, info)`` from :func:`foldpitch.model.load_pitchnet` of
    :func:`resolve_init_from`, the network in training mode (weights only: no optimiser
    state, no step count). ``info["path"]`` is the file read."""
    from .model import load_pitchnet

    path = resolve_init_from(init_from)
    model, info = load_pitchnet(path)
    info["path"] = str(path)
    return model.train(), info


def base_objective(info: dict, **overrides) -> SelfSupervisedFoldLoss:
    """The fold-loss objective the base network was trained with (its resolved config's
    ``loss`` entry), so that fine-tuning does not retrain its periodicity to another
    target; the defaults of :class:`SelfSupervisedFoldLoss` where the checkpoint has
    none. ``overrides`` replace single arguments."""
    settings = dict((info.get("resolved_config") or {}).get("loss") or {})
    settings.pop("_target_", None)
    settings.update(overrides)
    return SelfSupervisedFoldLoss(**settings)


def adaptation_objective(info: dict) -> SelfSupervisedFoldLoss:
    """The objective of an adaptation: :func:`base_objective` with the periodicity term
    on (an adapted base stores weight 0) and without the chirped table (``chirps=()``).

    The chirped table reads every frame along gliding periods too, 3-4 times the cost of
    a step. On the four dev domains it changed no adapted RPA by more than 0.3 points,
    with the network shipped before session 22 and with the one since
    (``benchmarks/results/adaptation-dev.md``), so adaptation keeps the plain table.
    """
    return base_objective(info, periodicity_weight=1.0, chirps=())


class AdaptationGuard(L.Callback):
    """Watches the held-back fold loss of an adaptation run after every validation.

    - keeps the weights with the lowest held-back loss so far (the base network's
      before the first step): :attr:`best_state`, :attr:`best_loss`, :attr:`best_step`;
    - stops the run, with :attr:`stop_reason` and a printed message, when that loss has
      not improved on the best for ``patience`` validations in a row;
    - stops it when the network collapses (:meth:`collapse_reason`): then
      ``system.collapse`` is set and no checkpoint can be written.

    Args:
        patience: validations without improvement before stopping.
        held_back: the name of the held-back set in the DataModule.
    """

    def __init__(self, patience: int = 4, held_back: str = HELD_BACK) -> None:
        self.patience = _checks.positive_int("patience", patience)
        self.held_back = held_back
        self.base: dict[str, float] | None = None
        self.best_loss = math.inf
        self.best_step = 0
        self.best_state: dict[str, Tensor] | None = None
        self.history: list[tuple[int, float]] = []  # (step, held-back loss)
        self.stop_reason: str | None = None
        self._worse = 0

    def start(self, system: PitchSystem, before: Mapping[str, float]) -> None:
        """Record the base network's held-back figures (``before``: the metrics of a
        validation before training) and its weights as the best so far."""
        self.base = {key: float(value) for key, value in before.items()}
        self.best_loss = self.base[f"val/{self.held_back}/loss"]
        self.best_state = {k: v.detach().clone() for k, v in system.model.state_dict().items()}
        self.history = [(0, self.best_loss)]

    def collapse_reason(self, metrics: Mapping[str, float]) -> str | None:
        """Why the network's output on the held-back audio is degenerate, or ``None``."""
        prefix = f"val/{self.held_back}"
        voiced = float(metrics[f"{prefix}/voiced_fraction"])
        spread = float(metrics[f"{prefix}/f0_spread_cents"])
        base_voiced = self.base[f"{prefix}/voiced_fraction"]
        base_spread = self.base[f"{prefix}/f0_spread_cents"]
        if voiced < COLLAPSE_VOICED_FRACTION and base_voiced >= 5 * COLLAPSE_VOICED_FRACTION:
            return (
                f"the adapted network calls {voiced:.1%} of the held-back frames voiced "
                f"(the base network: {base_voiced:.1%}): it collapsed to all unvoiced"
            )
        if (
            voiced >= COLLAPSE_VOICED_FRACTION
            and spread < COLLAPSE_SPREAD_CENTS <= base_spread / 10
        ):
            return (
                f"the adapted network's f0 on the held-back voiced frames varies by "
                f"{spread:.1f} cents (the base network's: {base_spread:.0f}): it collapsed "
                "to a constant output"
            )
        return None

    def on_validation_end(self, trainer, system: PitchSystem) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit" or self.base is None:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        loss = metrics[f"val/{self.held_back}/loss"]
        step = trainer.global_step
        self.history.append((step, loss))
        reason = self.collapse_reason(metrics)
        if reason is not None:
            system.collapse = reason
            self.stop_reason = f"collapse at step {step}: {reason}"
        elif loss < self.best_loss:
            self.best_loss, self.best_step, self._worse = loss, step, 0
            self.best_state = {k: v.detach().clone() for k, v in system.model.state_dict().items()}
        else:
            self._worse += 1
            if self._worse >= self.patience:
                self.stop_reason = (
                    f"early stop at step {step}: the held-back fold loss has not improved "
                    f"on its best ({self.best_loss:.4f} at step {self.best_step}) for "
                    f"{self._worse} validations in a row (now {loss:.4f}); keeping the "
                    f"weights of step {self.best_step}"
                )
        if self.stop_reason is not None:
            trainer.should_stop = True
            if trainer.global_rank == 0:
                print(f"\nfoldpitch adapt: {self.stop_reason}", file=sys.stderr, flush=True)


def keep_voicing(model: PitchNet, objective: SelfSupervisedFoldLoss) -> None:
    """Fine-tune the pitch only: freeze everything the voicing output reads (the stem and
    the blocks, ``requires_grad`` off) and give the objective's periodicity term weight
    0, so the head's periodicity row gets no gradient. Train it without weight decay,
    which AdamW would apply to that row anyway; then the voicing stays exactly the
    model's. The head's pitch rows still train."""
    for module in (model.stem, model.blocks):
        for parameter in module.parameters():
            parameter.requires_grad_(False)
    objective.periodicity_weight = 0.0


def _validate(trainer, system, datamodule) -> dict[str, float]:
    parts = trainer.validate(system, datamodule=datamodule, verbose=False)
    return {k: float(v) for part in parts for k, v in part.items()}


def run_adaptation(
    system: PitchSystem,
    datamodule: PitchDataModule,
    trainer,
    guard: AdaptationGuard,
    destination: str | Path,
    check_before=None,
) -> dict:
    """Fine-tune ``system`` (already holding the base weights) on ``datamodule``'s
    unlabelled training audio, watched by ``guard``, and write the best weights.

    Every validation set is scored before and after (the held-back audio's fold loss,
    and the labelled monitoring sets' accuracy); during training only the held-back set
    is. The checkpoint written to ``destination`` (atomically; an inference checkpoint
    like :func:`foldpitch.model.export_pitchnet`'s) holds the weights with the lowest
    held-back loss, which may be the base's own, and the network's
    ``voicing_threshold``.

    Returns:
        A summary: ``steps``, ``seconds``, ``best_step``, ``stop_reason`` (or ``None``),
        ``history`` (step, held-back loss), ``before`` and ``after`` (metric -> value),
        ``checkpoint``.

    Raises:
        AdaptationCollapsed: the network collapsed (all unvoiced or a constant output on
            the held-back audio); nothing is written.
    """
    if HELD_BACK not in datamodule.validation_sets:
        raise ValueError(f"the DataModule needs a validation set named {HELD_BACK!r}")
    datamodule.fit_validation = [guard.held_back]
    before = _validate(trainer, system, datamodule)
    if check_before is not None:
        check_before(before)  # e.g. :func:`check_periodic`: refuse before training
    guard.start(system, before)
    started = time.perf_counter()
    trainer.fit(system, datamodule=datamodule)
    seconds = time.perf_counter() - started
    if system.collapse is not None:
        raise AdaptationCollapsed(f"adaptation collapsed, nothing written: {system.collapse}")
    system.model.load_state_dict(guard.best_state)
    after = _validate(trainer, system, datamodule)
    destination = Path(destination)
    if trainer.global_rank == 0:
        write_inference_checkpoint(system, destination, trainer.global_step)
    return {
        "steps": trainer.global_step,
        "seconds": round(seconds, 1),
        "best_step": guard.best_step,
        "stop_reason": guard.stop_reason,
        "history": guard.history,
        "before": before,
        "after": after,
        "checkpoint": str(destination),
    }


def write_inference_checkpoint(system: PitchSystem, destination: Path, step: int) -> None:
    """The network's weights and foldpitch's entry (no optimiser), as
    :func:`foldpitch.model.export_pitchnet` writes them, through a temporary file."""
    state = {
        "state_dict": {f"model.{k}": v for k, v in system.model.state_dict().items()},
        "global_step": step,
    }
    system.on_save_checkpoint(state)  # fills state["foldpitch"]; refuses a collapse
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.tmp")
    torch.save(state, temporary)
    temporary.replace(destination)


REPORTED = ("loss", "voiced_fraction", "raw_pitch_accuracy", "voicing_false_alarm")
"""The metrics of each validation set in :func:`adaptation_report`."""


def adaptation_report(summary: dict) -> str:
    """The before/after table of an adaptation run (:data:`REPORTED` of every set),
    Markdown."""
    keys = sorted(
        key
        for key in set(summary["before"]) | set(summary["after"])
        if key.rsplit("/", 1)[-1] in REPORTED
    )
    lines = ["| set / metric | before | after |", "| --- | ---: | ---: |"]
    for key in keys:
        a, b = summary["before"].get(key, math.nan), summary["after"].get(key, math.nan)
        lines.append(f"| {key.removeprefix('val/')} | {a:.4f} | {b:.4f} |")
    return "\n".join(lines)


def monitoring_sets(model, length: int = 16, seconds: float = 1.0) -> dict[str, Dataset]:
    """Labelled generated clips scored before and after an adaptation (what the network
    should not forget): tones clean and at 10 dB, and speech-like excerpts, the
    generators and seeds of ``configs/data/validation/tones.yaml``."""
    from .data import LabelledSyntheticSet

    common = dict(
        length=length,
        seconds=seconds,
        sample_rate=model.sample_rate,
        fmin=model.fmin,
        fmax=model.fmax,
        hop_length=model.hop_length,
    )
    tones = dict(formants=False, white_noise=True)
    return {
        "tones_clean": LabelledSyntheticSet(seed=1001, snr_db=None, **tones, **common),
        "tones_10db": LabelledSyntheticSet(seed=1002, snr_db=10.0, **tones, **common),
        "speechlike": LabelledSyntheticSet(
            seed=1004, p_speech=1.0, p_silent=0.0, p_noise_only=0.0, **common
        ),
    }


def check_adaptation_audio(train_set, held_back_set, n_items: int = 32) -> None:
    """Refuse audio that cannot be learnt from: ``ValueError`` when the files hold less
    than :data:`MIN_ADAPT_SECONDS` in all, or when no sampled excerpt (up to
    ``n_items`` of each set) rises above :data:`SILENCE_PEAK`."""
    total = float(getattr(train_set, "total_seconds", math.inf))
    if total < MIN_ADAPT_SECONDS:
        raise ValueError(
            f"the audio is too short to adapt to: {total:.1f} s in {len(train_set.files)} "
            f"file(s); adaptation needs at least {MIN_ADAPT_SECONDS:g} s (a fifth of it is "
            "held back to measure the result)"
        )
    peak = 0.0
    for dataset in (train_set, held_back_set):
        for index in range(min(n_items, len(dataset))):
            peak = max(peak, float(dataset[index]["audio"].abs().max()))
    if peak <= SILENCE_PEAK:
        raise ValueError(
            f"the audio is silent (the loudest of {2 * n_items} sampled excerpts peaks at "
            f"{peak:.1e}, under {SILENCE_PEAK:g}): nothing to adapt to"
        )


def check_periodic(before: Mapping[str, float], minimum: float = COLLAPSE_VOICED_FRACTION):
    """Refuse held-back audio in which the base network finds (almost) nothing voiced:
    the fold loss has nothing to align there."""
    voiced = before[f"val/{HELD_BACK}/voiced_fraction"]
    if voiced < minimum:
        raise ValueError(
            f"the base network calls {voiced:.1%} of the held-back audio voiced: it holds "
            "no pitched sound (only noise or silence?), nothing to adapt to"
        )


def adapt(
    files,
    destination: str | Path,
    *,
    steps: int = 200,
    device: str = "cpu",
    seed: int = 0,
    init_from: str | Path | None = SHIPPED,
    batch_size: int = 8,
    seconds: float = 1.0,
    learning_rate: float = 1e-4,
    warmup_steps: int = 20,
    validate_every: int = 25,
    patience: int = 4,
    held_back: float = 0.2,
    held_back_items: int = 32,
    monitoring_items: int = 16,
    voicing_threshold: float | None = None,
    train_voicing: bool = False,
    progress_bar: bool = True,
) -> dict:
    """Adapt a trained network to unlabelled recordings (``foldpitch adapt``), no Hydra.

    The last ``held_back`` of every file's duration is held back: the network never
    trains on it, and its fold loss there (the label-free objective itself) says whether
    adaptation helped. Training draws random ``seconds`` excerpts from the rest, ``steps``
    AdamW steps of ``batch_size`` (``learning_rate`` after ``warmup_steps``, then cosine
    decay), the fold loss of the base network's training as the only objective, from the
    base's weights with a fresh optimiser. Every ``validate_every`` steps the held-back
    loss is measured; the best weights are kept, and the run stops early when it has not
    improved for ``patience`` validations (:class:`AdaptationGuard`).

    Args:
        files: audio file paths (any rate; channels are averaged).
        destination: the checkpoint to write (``.ckpt``), loadable by
            :func:`foldpitch.predict.predict`, ``foldpitch predict --checkpoint`` and
            :func:`foldpitch.model.export_pitchnet`.
        init_from: the base checkpoint; ``"shipped"`` (default) for the shipped network.
        voicing_threshold: stored in the result; ``None`` keeps the base's.
        train_voicing: also train the voicing output (the objective's periodicity
            term). Off by default: on the user's audio as it is, a reverberant tail or
            a background voice is periodic, and the base network learned to call it
            unvoiced from dry training targets that adaptation does not have.
        device: ``"cpu"`` or ``"cuda"``.

    Returns:
        The summary of :func:`run_adaptation`, with ``"base"`` (the base checkpoint).

    Raises:
        ValueError: no readable audio, too little (:data:`MIN_ADAPT_SECONDS`), silent
            audio, or audio without pitched sound.
        AdaptationCollapsed: the network collapsed; nothing written.
    """
    from .data import AudioFolder
    from .model import check_voicing_threshold

    for name, value in (("steps", steps), ("batch_size", batch_size)):
        _checks.positive_int(name, value)
    if not 0 < held_back < 1:
        raise ValueError(f"held_back must be a fraction in (0, 1), got {held_back!r}")
    _checks.one_of("device", device, ("cpu", "cuda"))
    if voicing_threshold is not None:
        voicing_threshold = check_voicing_threshold(voicing_threshold)
    L.seed_everything(seed, workers=True, verbose=False)
    model, info = load_initial_weights(init_from)
    if voicing_threshold is not None:
        model.voicing_threshold = voicing_threshold
    files = [str(path) for path in files]
    rate = model.sample_rate
    train_set = AudioFolder(
        files, seconds, rate, length=steps * batch_size, seed=seed, part=(0.0, 1.0 - held_back)
    )
    held_set = AudioFolder(
        files, seconds, rate, length=held_back_items, seed=seed + 1, part=(1.0 - held_back, 1.0)
    )
    check_adaptation_audio(train_set, held_set)
    validation = {HELD_BACK: held_set}
    if monitoring_items:
        validation.update(monitoring_sets(model, monitoring_items, seconds))
    datamodule = PitchDataModule(train_set, validation, batch_size=batch_size, num_workers=0)
    objective = adaptation_objective(info)
    if not train_voicing:
        keep_voicing(model, objective)
    system = PitchSystem(
        model,
        objective,
        weight_decay=1e-4 if train_voicing else 0.0,
        learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        total_steps=steps,
        n_figure_clips=0,
    )
    system.init_from = info["path"]
    system.commit = git_commit()
    system.resolved_config = {
        "adapt": {
            "files": files,
            "steps": steps,
            "seed": seed,
            "batch_size": batch_size,
            "seconds": seconds,
            "learning_rate": learning_rate,
            "warmup_steps": warmup_steps,
            "held_back": held_back,
            "train_voicing": train_voicing,
        },
        "loss": {"_target_": "foldpitch.loss.SelfSupervisedFoldLoss", **_objective_config(system)},
        "base_resolved_config": info.get("resolved_config"),
    }
    guard = AdaptationGuard(patience)
    trainer = L.Trainer(
        accelerator=device,
        devices=1,
        max_steps=steps,
        val_check_interval=min(validate_every, steps),
        check_val_every_n_epoch=None,
        num_sanity_val_steps=0,
        gradient_clip_val=1.0,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress_bar,
        callbacks=[guard],
        log_every_n_steps=max(1, min(25, steps)),
    )
    summary = run_adaptation(system, datamodule, trainer, guard, destination, check_periodic)
    summary["base"] = info["path"]
    summary["skipped_audio_files"] = train_set.skipped
    return summary


def _objective_config(system: PitchSystem) -> dict:
    objective = system.objective
    return {
        name: getattr(objective, name)
        for name in (
            "hop_length",
            "temperature",
            "periodicity_threshold",
            "periodicity_temperature",
            "refine_weight",
            "periodicity_weight",
            "kernel",
            "submultiple_margin",
            "upsample",
            "time_symmetric",
            "chirps",
        )
    }


def adapt_from_config(cfg) -> dict:
    """``scripts/train.py experiment=adapt``: :func:`run_adaptation` built from a Hydra
    config (``init_from``, the ``adapt`` block, ``data=folder`` with its held-back set);
    writes ``<output_dir>/checkpoints/adapted.ckpt`` and ``adaptation.json``."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from .model import check_voicing_threshold

    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.output_dir)
    settings = cfg.adapt
    datamodule = instantiate(cfg.data)
    if HELD_BACK not in datamodule.validation_sets:
        raise ValueError(
            f"experiment=adapt needs data.validation.{HELD_BACK} (use data=folder; see "
            "configs/experiment/adapt.yaml)"
        )
    check_adaptation_audio(datamodule.train_set, datamodule.validation_sets[HELD_BACK])
    model, info = load_initial_weights(cfg.init_from)
    if settings.get("voicing_threshold") is not None:
        model.voicing_threshold = check_voicing_threshold(settings.voicing_threshold)
    if settings.get("loss_from_base"):
        objective = adaptation_objective(info)
    else:
        objective = instantiate(cfg.loss)
    optim = dict(cfg.optim)
    if not settings.get("train_voicing"):
        keep_voicing(model, objective)
        optim["weight_decay"] = 0.0
    system = PitchSystem(model, objective, total_steps=cfg.trainer.max_steps, **optim)
    system.resolved_config = OmegaConf.to_container(cfg, resolve=True)
    system.resolved_config["loss"] = {
        "_target_": "foldpitch.loss.SelfSupervisedFoldLoss",
        **_objective_config(system),
    }
    system.commit = git_commit()
    system.init_from = info["path"]
    guard = AdaptationGuard(settings.patience)
    logger = instantiate(cfg.logger) if cfg.logger else False
    trainer = instantiate(cfg.trainer, callbacks=[guard], logger=logger, enable_checkpointing=False)
    if trainer.global_rank == 0:
        output_dir.mkdir(parents=True, exist_ok=True)
        (output_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    destination = output_dir / "checkpoints" / "adapted.ckpt"
    summary = run_adaptation(system, datamodule, trainer, guard, destination, check_periodic)
    summary["base"] = info["path"]
    if trainer.global_rank == 0:
        (output_dir / "adaptation.json").write_text(json.dumps(summary, indent=2))
        print(describe_adaptation(summary), flush=True)
    return summary


def describe_adaptation(summary: dict) -> str:
    """What an adaptation run did, for people: held-back loss before and after, why it
    stopped, the monitoring sets' table, the checkpoint written."""
    key = f"val/{HELD_BACK}/loss"
    lines = [
        "",
        f"foldpitch adapt: {summary['steps']} steps in {summary['seconds']} s from "
        f"{summary.get('base')}",
        f"  held-back fold loss (lower is better, no labels): {summary['before'][key]:.4f} "
        f"before, {summary['after'][key]:.4f} after (best at step {summary['best_step']})",
    ]
    if summary["stop_reason"]:
        lines.append(f"  {summary['stop_reason']}")
    if summary["best_step"] == 0:
        lines.append(
            "  adaptation did not lower the held-back loss: the checkpoint holds the base "
            "network's weights"
        )
    lines += ["", adaptation_report(summary), "", f"  checkpoint: {summary['checkpoint']}"]
    return "\n".join(lines)
