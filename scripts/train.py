"""Train foldpitch's network with the fold-alignment loss (no pitch labels).

    python scripts/train.py                          # default: built-in corpus, CPU
    python scripts/train.py experiment=fast          # end to end in under a minute
    python scripts/train.py trainer=ddp              # Lightning DDP, 2 processes
    python scripts/train.py logger=csv               # or logger=none, or
    python scripts/train.py logger=wandb logger.offline=false
    python scripts/train.py data=folder data.train.source=/path/to/audio
    python scripts/train.py resume=outputs/<run>/checkpoints/last.ckpt

Configs live in configs/ (train.yaml composes data, model, loss, trainer, logger,
experiment). Outputs go to outputs/<date_time>/: config.yaml, checkpoints/, logs.
"""

import hydra
from omegaconf import DictConfig


@hydra.main(config_path="../configs", config_name="train", version_base="1.3")
def main(cfg: DictConfig) -> None:
    from foldpitch.system import train

    train(cfg)


if __name__ == "__main__":
    main()
