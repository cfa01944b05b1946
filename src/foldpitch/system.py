"""Training with Lightning: the LightningModule, the DataModule and the training run.

Needs the ``train`` extra (``pip install -e ".[train]"``: lightning, hydra-core, wandb).
The entry point is ``python scripts/train.py`` (Hydra configs in ``configs/``), which
calls :func:`train`.

No pitch label reaches the optimiser: training batches hold only ``"audio"``, and
optionally ``"clean"``, the same audio before an added noise
(:meth:`PitchSystem.training_step` refuses anything else), and the objective is
:class:`foldpitch.loss.SelfSupervisedFoldLoss`. The labelled sets are used in
validation only, to *monitor* raw pitch accuracy, cents error and voicing.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from .loss import SelfSupervisedFoldLoss
from .loss._common import _check_audio
from .metrics import pitch_metrics
from .model import CHECKPOINT_FORMAT, PitchNet, PitchNetOutput

__all__ = ["PitchDataModule", "PitchSystem", "train"]


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
        name = self.trainer.datamodule.validation_names[dataloader_idx]
        out, terms = self.fold_loss(batch["audio"])
        self.log(f"val/{name}/loss", terms["loss"], add_dataloader_idx=False, sync_dist=True)
        self._validation.setdefault(name, []).append(
            {
                "f0": self.model.frequency(self.model.log2_period(out)).detach(),
                "voiced": torch.sigmoid(out.periodicity_logits).detach() > 0.5,
                "true_f0": batch["f0"],
                "true_voiced": batch["voiced"],
            }
        )

    def on_validation_epoch_end(self) -> None:
        for name, parts in self._validation.items():
            merged = {key: torch.cat([p[key] for p in parts]).float() for key in parts[0]}
            # Every rank scores all ranks' clips, so all log the same values.
            merged = {key: self.all_gather(value).flatten(0, -2) for key, value in merged.items()}
            for key in ("voiced", "true_voiced"):
                merged[key] = merged[key] > 0.5
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
        # Everything inference needs, readable without Lightning or Hydra.
        checkpoint["foldpitch"] = {
            "format_version": CHECKPOINT_FORMAT,
            "model_config": self.model.config(),
            "resolved_config": self.resolved_config,
            "commit": self.commit,
            "samples_seen": self.samples_seen,
        }

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.samples_seen = checkpoint.get("foldpitch", {}).get("samples_seen", 0)


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
            DataLoader(dataset, batch_size=self.batch_size)
            for dataset in self.validation_sets.values()
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
    continues from a checkpoint. With ``cfg.checkpoint_every_n_steps`` (an int),
    ``last.ckpt`` is also rewritten every that many training steps, so a run killed
    mid-epoch resumes close to where it stopped and finishes with the same number of
    steps (Lightning writes checkpoints atomically: a kill never leaves half of one).

    Training on a folder of audio: files that cannot be read are skipped with one
    warning each (see :class:`foldpitch.data.AudioFolder`) and counted in the summary
    (``skipped_audio_files``: those found by the scan before training, plus those whose
    samples failed in any process, DataLoader workers included, also through wrappers
    such as :class:`foldpitch.data.AddNoise`); a folder without readable audio fails
    before training.
    """
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    L.seed_everything(cfg.seed, workers=True)
    output_dir = Path(cfg.output_dir)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    datamodule = instantiate(cfg.data)
    model = instantiate(cfg.model)
    objective = instantiate(cfg.loss)
    system = PitchSystem(model, objective, total_steps=cfg.trainer.max_steps, **cfg.optim)
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
    )
    logger = instantiate(cfg.logger) if cfg.logger else False
    callbacks.append(checkpoint)
    every = cfg.get("checkpoint_every_n_steps")
    if every is not None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(
                f"checkpoint_every_n_steps must be a positive integer or null, got {every!r}"
            )
        callbacks.append(
            L.pytorch.callbacks.ModelCheckpoint(
                dirpath=output_dir / "checkpoints",
                every_n_train_steps=every,
                save_top_k=0,
                save_last=True,
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
