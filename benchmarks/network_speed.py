"""Training throughput and inference speed of foldpitch's network on this machine's CPU.

Measured in one run for two configurations: the default one (``configs/train.yaml``
composed by Hydra, so the numbers follow the config) and the shipped network's (the
``model`` and ``loss`` sections of ``checkpoints/foldpitch-16k.yaml`` on the default
data: its short STFT and its chirped table):

1. **Training throughput**: audio seconds per wall second of full training steps
   (network forward, the fold-loss objective, backward, AdamW step) on batches of the
   built-in corpus, generated beforehand; and the generator's own throughput (in a run
   it works in a DataLoader worker beside the training steps).
2. **Inference speed**: real-time factor (wall time / audio duration; below 1 is faster
   than real time) of the network on 60 s of audio, batch 1, median of repeats after a
   warm-up, with the default and with a single thread.

Regenerate ``benchmarks/results/network_speed.md`` with::

    python benchmarks/network_speed.py --write
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
RESULTS_FILE = Path(__file__).parent / "results" / "network_speed.md"


def default_config():
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "configs"), version_base="1.3"):
        return compose(config_name="train", overrides=["logger=none"])


def shipped_config(cfg):
    """``cfg`` with the shipped network's model and loss (its training config)."""
    from omegaconf import OmegaConf

    shipped = OmegaConf.load(ROOT / "checkpoints" / "foldpitch-16k.yaml")
    merged = cfg.copy()
    merged.model, merged.loss = shipped.model, shipped.loss
    return merged


def training_throughput(cfg, steps: int) -> dict:
    from hydra.utils import instantiate

    from foldpitch.system import PitchSystem

    torch.manual_seed(0)
    model, objective = instantiate(cfg.model), instantiate(cfg.loss)
    system = PitchSystem(model, objective)
    optimizer = torch.optim.AdamW(system.parameters(), lr=1e-3)
    corpus = instantiate(cfg.data.train)
    batch_size = cfg.data.batch_size
    started = time.perf_counter()
    batches = [
        torch.stack([corpus[b * batch_size + i]["audio"] for i in range(batch_size)])
        for b in range(steps + 2)
    ]
    generation = time.perf_counter() - started
    seconds_per_batch = batches[0].shape[-1] / cfg.sample_rate * batch_size

    def step(audio):
        loss = system.fold_loss(audio)[1]["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    for audio in batches[:2]:  # warm-up
        step(audio)
    times = []
    for audio in batches[2:]:
        t0 = time.perf_counter()
        step(audio)
        times.append(time.perf_counter() - t0)
    return {
        "batch": f"{batch_size} x {batches[0].shape[-1] / cfg.sample_rate:g} s",
        "step_s": statistics.median(times),
        "train_audio_per_s": seconds_per_batch / statistics.median(times),
        "generate_audio_per_s": seconds_per_batch * len(batches) / generation,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def inference_rtf(cfg, seconds: float, repeats: int, threads: int) -> float:
    from hydra.utils import instantiate

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        torch.manual_seed(0)
        model = instantiate(cfg.model).eval()
        audio = torch.randn(1, int(seconds * cfg.sample_rate)) * 0.1
        with torch.inference_mode():
            model(audio)  # warm-up
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                out = model(audio)
                model.frequency(model.log2_period(out))
                times.append(time.perf_counter() - t0)
        return statistics.median(times) / seconds
    finally:
        torch.set_num_threads(previous)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS_FILE.name}")
    args = parser.parse_args(argv)

    default = default_config()
    configs = {"default config": default, "shipped network": shipped_config(default)}
    threads = torch.get_num_threads()
    thread_counts = sorted({threads, 1})
    train, rtf = {}, {}
    for name, cfg in configs.items():
        train[name] = training_throughput(cfg, args.steps)
        rtf[name] = {n: inference_rtf(cfg, 60.0, 5, n) for n in thread_counts}
    names = list(configs)
    first = train[names[0]]
    lines = [
        "# Network speed (CPU)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {threads} torch threads, "
        f"torch {torch.__version__}. Batch {first['batch']} of the default corpus. The "
        "shipped network: the model and loss of `checkpoints/foldpitch-16k.yaml` (a short "
        "STFT beside the long one, the chirped table). Command: "
        "`python benchmarks/network_speed.py --write`.",
        "",
        "| measure | " + " | ".join(names) + " |",
        "| --- |" + " ---: |" * len(names),
        "| parameters | " + " | ".join(f"{train[n]['parameters']:,}" for n in names) + " |",
        "| training step (forward + fold-loss objective + backward + AdamW), median | "
        + " | ".join(f"{train[n]['step_s'] * 1000:.0f} ms" for n in names)
        + " |",
        "| training throughput, s of audio per s | "
        + " | ".join(f"{train[n]['train_audio_per_s']:.1f}" for n in names)
        + " |",
        f"| corpus generation (one process), s of audio per s | "
        f"{first['generate_audio_per_s']:.0f} | |",
    ]
    for n in thread_counts:
        lines.append(
            f"| inference real-time factor, 60 s at {default.sample_rate} Hz, batch 1, "
            f"{n} thread{'s' if n > 1 else ''} | "
            + " | ".join(f"{rtf[name][n]:.4f} ({1 / rtf[name][n]:.0f}x)" for name in names)
            + " |"
        )
    text = "\n".join(lines)
    print(text)
    if args.write:
        RESULTS_FILE.write_text(text + "\n")


if __name__ == "__main__":
    main()
