"""Render the realistic corpus's pools (Festival utterances, soundfont lines, rooms) into
its cache, with a progress bar, before training on it.

    python scripts/prepare_corpus.py                          # configs/data/realistic.yaml
    python scripts/prepare_corpus.py --workers 2 seed=1 data.train.n_utterances=200

Takes the same Hydra overrides as ``scripts/train.py`` (``data=realistic`` is implied), so
the renders it caches are those the training run reads. Seeded: the same overrides give
the same audio. A missing program (festival, fluidsynth, pyroomacoustics) skips its
source with a warning; the rest is still prepared. Renders already cached are kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> dict[str, int]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="renders run at once")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py")
    args = parser.parse_args(argv)

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from foldpitch.data.corpus import prepare_corpus

    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["data=realistic", *args.overrides])
    options = OmegaConf.to_container(cfg.data.train, resolve=True)
    target = options.pop("_target_")
    if target != "foldpitch.data.corpus.realistic_corpus":
        raise SystemExit(f"data.train must be the realistic corpus, got {target}")
    counts = prepare_corpus(workers=args.workers, **options)
    print("prepared: " + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
    return counts


if __name__ == "__main__":
    main()
