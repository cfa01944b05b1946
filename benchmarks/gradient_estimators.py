"""Perturbation gradient estimators (SPSA, Gaussian smoothing, finite differences) against
autograd on the dense fold-alignment loss (CPU, one thread).

Setup: 1 s of a 16 kHz harmonic tone (1/h spectrum) with a vibrato (220 Hz, 6 Hz,
+-100 cents); ``dense_fold_loss`` with ``kernel="cubic"``, ``normalization="energy"``,
``max_period=sample_rate / 150``; ``d`` = 50 or 200 envelope control points spread over
the second (``hop_length = (N - 1) / (d - 1)``). The loss of one envelope is the sum of
its per-frame losses (``reduction="none"`` summed over frames), so a batch of envelopes
``(B, d)`` is evaluated against the same audio in one call.

Measured:

1. Cosine similarity between each estimator's gradient and the exact autograd gradient
   at a perturbed envelope (the true one plus a smooth random offset of 30 cents RMS,
   fixed seed), for budgets of 1 ... 4096 loss evaluations, averaged over seeds. SPSA
   and Gaussian smoothing spend ``2 n`` evaluations on ``n`` directions; finite
   differences need ``2 d``; autograd is one forward + backward pass. Each seed draws
   its directions in calls of 1, 1, 2, 4, ... directions (batched mode); the estimate
   for a budget of ``2 n`` evaluations is the mean over the first ``n`` directions, an
   ``n``-direction estimate like the one a single call with ``n`` directions returns,
   and its wall time is the time of the calls so far. Wall times: one
   autograd forward + backward, one loss evaluation, and each estimator call.
2. Fitting: Adam (lr 0.01) on the envelope (d = 50) from a constant start 10 % flat,
   with each gradient source (autograd; SPSA with n = 1, 16, 256 directions per step;
   Gaussian smoothing with n = 16), until the RMS difference from the optimum (the envelope
   autograd-Adam reaches after many steps, computed first) is under 5 cents, or a cap
   (2000 steps or 32768 loss evaluations) is hit.

Regenerate ``benchmarks/results/gradient_estimators.md`` and the figures
``docs/figures/gradient_cosine.png`` and ``docs/figures/gradient_fits.png`` with::

    PYTHONPATH=src python benchmarks/gradient_estimators.py --write

``--quick`` runs a seconds-long smoke version (small budgets and caps) that writes
nothing.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from foldpitch.envelope import hz_to_log2_period
from foldpitch.gradients import (
    autograd_gradient,
    cosine_similarity,
    finite_difference_gradient,
    gaussian_smoothing_gradient,
    spsa_gradient,
)
from foldpitch.loss import dense_fold_loss
from foldpitch.synth import harmonic_tone, vibrato_f0

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "benchmarks" / "results" / "gradient_estimators.md"
FIGURE_DIR = ROOT / "docs" / "figures"
COSINE_FIGURE = FIGURE_DIR / "gradient_cosine.png"
FITS_FIGURE = FIGURE_DIR / "gradient_fits.png"
COMMAND = "PYTHONPATH=src python benchmarks/gradient_estimators.py --write"

# The signal and the loss.
SAMPLE_RATE = 16000
N_SAMPLES = SAMPLE_RATE  # 1 s
CENTER_HZ, VIBRATO_HZ, VIBRATO_CENTS = 220.0, 6.0, 100.0
KERNEL = "cubic"
NORMALIZATION = "energy"
MAX_PERIOD = SAMPLE_RATE / 150  # samples (lowest f0 150 Hz), as in `foldpitch demo`
DIMENSIONS = (50, 200)

# The point at which gradients are compared: truth + smooth offset.
OFFSET_CENTS_RMS = 30.0
OFFSET_HARMONICS = 5  # the offset is a random sum of sinusoids of 1..5 cycles per second
OFFSET_SEED = 20240601

# The estimators (library defaults for the step sizes).
SPSA_EPSILON = 1e-3  # log2 units: 1.2 cents
GAUSSIAN_SIGMA = 1e-2  # log2 units: 12 cents
BATCH_SIZE = 32  # directions per batched call: 64 envelopes per loss call
TARGET_COSINE = 0.9

# Fitting.
FIT_DIMENSION = 50
FIT_LR = 0.01
FIT_START_RATIO = 1.1  # start: constant f0 = 220 Hz / 1.1 (10 % flat)
FIT_TOLERANCE_CENTS = 5.0
FIT_SEED = 0

SOURCES = ("autograd", "finite differences", "SPSA", "SPSA theory", "Gaussian smoothing")


@dataclass(frozen=True)
class Settings:
    max_budget_log2: int  # budgets 1, 2, 4, ..., 2**max_budget_log2 loss evaluations
    seeds: int
    timing_repeats: int
    optimum_steps: int
    fit_max_steps: int
    fit_max_evaluations: int
    spsa_fit_samples: tuple[int, ...]  # directions per step of the SPSA fits
    gaussian_fit_samples: tuple[int, ...]  # ... and of the Gaussian-smoothing fits

    @classmethod
    def from_args(cls, args) -> Settings:
        if args.quick:
            return cls(4, 1, 2, 40, 10, 64, (1, 16), (16,))
        return cls(12, 3, 20, 1500, 2000, 32768, (1, 16, 256), (16,))

    @property
    def budgets(self) -> list[int]:
        return [2**k for k in range(self.max_budget_log2 + 1)]


@dataclass
class Problem:
    d: int
    hop: float
    audio: Tensor
    truth: Tensor  # log2 period at the control points
    point: Tensor  # truth + smooth offset: where the gradients are compared
    loss: Callable[[Tensor], Tensor]  # (..., d) -> (...)


@dataclass
class CosineRow:
    d: int
    source: str
    # budget -> cosine per seed (one entry for deterministic sources); missing: n/a
    cosines: dict[int, list[float]] = field(default_factory=dict)
    # budget -> wall time (s) per seed of the estimator call that used that budget
    times: dict[int, list[float]] = field(default_factory=dict)

    def mean(self, budget: int) -> float | None:
        values = self.cosines.get(budget)
        return None if not values else sum(values) / len(values)


@dataclass
class Timing:
    d: int
    autograd_s: float  # one forward + backward
    forward_s: float  # one loss evaluation, unbatched
    batched_per_evaluation_s: float  # one loss evaluation inside a batch of 2*BATCH_SIZE
    finite_difference_s: float
    finite_difference_cosine: float


@dataclass
class Fit:
    source: str
    samples: int | None  # directions per step (None for autograd)
    steps: int
    evaluations: int
    seconds: float
    error_cents: float  # final RMS difference from the optimum
    converged: bool
    history: list[tuple[int, float, float]]  # (evaluations, seconds, error) after each step

    @property
    def label(self) -> str:
        return self.source if self.samples is None else f"{self.source}, n = {self.samples}"


@dataclass
class Results:
    settings: Settings
    cosine_rows: list[CosineRow]
    timings: list[Timing]
    fits: list[Fit]
    optimum: dict[str, float]
    markdown: str
    elapsed_s: float


# --- the problem ---------------------------------------------------------------------


def true_f0_hz(seconds: Tensor) -> Tensor:
    """The vibrato f0 at any time (the formula of ``foldpitch.synth.vibrato_f0``)."""
    depth = VIBRATO_CENTS / 1200 * torch.sin(2 * math.pi * VIBRATO_HZ * seconds)
    return CENTER_HZ * torch.exp2(depth)


def smooth_offset(seconds: Tensor) -> Tensor:
    """A fixed random smooth curve (log2 units) with an RMS of 30 cents over 1 s."""
    g = torch.Generator().manual_seed(OFFSET_SEED)
    k = torch.arange(1, OFFSET_HARMONICS + 1, dtype=torch.float64)
    amplitude = torch.randn(OFFSET_HARMONICS, generator=g, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(OFFSET_HARMONICS, generator=g, dtype=torch.float64)
    fine = torch.linspace(0, 1, 10001, dtype=torch.float64)

    def curve(t):
        return (amplitude * torch.sin(2 * math.pi * k * t[:, None] + phase)).sum(-1)

    scale = OFFSET_CENTS_RMS / 1200 / curve(fine).square().mean().sqrt()
    return scale * curve(seconds.to(torch.float64))


def make_audio() -> Tensor:
    f0 = vibrato_f0(CENTER_HZ, VIBRATO_HZ, VIBRATO_CENTS, SAMPLE_RATE, N_SAMPLES)
    return harmonic_tone(f0, SAMPLE_RATE, spectrum="1/h")


def make_problem(d: int, audio: Tensor) -> Problem:
    hop = (N_SAMPLES - 1) / (d - 1)
    seconds = torch.arange(d, dtype=torch.float64) * hop / SAMPLE_RATE
    truth = hz_to_log2_period(true_f0_hz(seconds), SAMPLE_RATE)
    point = (truth + smooth_offset(seconds)).to(torch.float32)

    def loss(envelope: Tensor) -> Tensor:
        per_frame = dense_fold_loss(
            envelope,
            audio,
            hop,
            kernel=KERNEL,
            normalization=NORMALIZATION,
            reduction="none",
            max_period=MAX_PERIOD,
        )
        return per_frame.sum(-1)

    return Problem(d, hop, audio, truth.to(torch.float32), point, loss)


def cents_rms(a: Tensor, b: Tensor) -> float:
    return float((1200 * (a.double() - b.double())).square().mean().sqrt())


# --- 1. cosine similarity versus loss evaluations ------------------------------------


def min_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    best = math.inf
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - began)
    return best


def measure_timing(problem: Problem, settings: Settings, exact: Tensor) -> Timing:
    x = problem.point
    autograd_s = min_time(lambda: autograd_gradient(problem.loss, x), settings.timing_repeats)
    with torch.no_grad():
        forward_s = min_time(lambda: problem.loss(x), settings.timing_repeats)
        stack = x.expand(2 * BATCH_SIZE, -1).clone()
        batch_s = min_time(lambda: problem.loss(stack), max(1, settings.timing_repeats // 4))
    began = time.perf_counter()
    fd = finite_difference_gradient(
        problem.loss, x, SPSA_EPSILON, batched=True, batch_size=BATCH_SIZE
    )
    fd_s = time.perf_counter() - began
    return Timing(
        problem.d,
        autograd_s,
        forward_s,
        batch_s / (2 * BATCH_SIZE),
        fd_s,
        cosine_similarity(fd.grad, exact),
    )


def nested_estimates(
    estimator: Callable[..., object],
    problem: Problem,
    exact: Tensor,
    budgets: list[int],
    seed: int,
    step: float,
) -> tuple[dict[int, float], dict[int, float]]:
    """Cosine and wall time of the estimate at each budget (2 n evaluations, n directions).

    Directions are drawn in calls of 1, 1, 2, 4, ... directions; after a call the running
    mean over all directions so far is the estimate for ``2 * (directions so far)``
    evaluations, and the time spent in the calls so far is its cost.
    """
    generator = torch.Generator().manual_seed(seed)
    cosines, times = {}, {}
    total = torch.zeros_like(problem.point, dtype=torch.float64)
    drawn, spent = 0, 0.0
    for budget in budgets:
        if budget < 2:
            continue
        n = budget // 2 - drawn  # new directions: 1, 1, 2, 4, ...
        began = time.perf_counter()
        estimate = estimator(
            problem.loss,
            problem.point,
            n,
            step,
            generator,
            batched=True,
            batch_size=BATCH_SIZE,
        )
        spent += time.perf_counter() - began
        assert estimate.evaluations == 2 * n
        total += n * estimate.grad.double()
        drawn += n
        cosines[budget] = cosine_similarity(total / drawn, exact)
        times[budget] = spent
    return cosines, times


def cosine_study(problems: list[Problem], settings: Settings, log) -> tuple[list, list]:
    rows, timings = [], []
    budgets = settings.budgets
    for problem in problems:
        d = problem.d
        exact = autograd_gradient(problem.loss, problem.point).grad
        log(f"d = {d}: timing autograd, one evaluation and finite differences")
        timing = measure_timing(problem, settings, exact)
        timings.append(timing)

        autograd_row = CosineRow(d, "autograd")
        fd_row = CosineRow(d, "finite differences")
        theory_row = CosineRow(d, "SPSA theory")
        # autograd: one forward + backward, counted as 1 evaluation (fits every budget);
        # a second call, compared with the first.
        again = cosine_similarity(autograd_gradient(problem.loss, problem.point).grad, exact)
        for budget in budgets:
            autograd_row.cosines[budget] = [again]
            if budget >= 2 * d:
                fd_row.cosines[budget] = [timing.finite_difference_cosine]
            if budget >= 2:
                n = budget // 2
                theory_row.cosines[budget] = [(1 + (d - 1) / n) ** -0.5]

        random_rows = []
        for source, estimator, step in (
            ("SPSA", spsa_gradient, SPSA_EPSILON),
            ("Gaussian smoothing", gaussian_smoothing_gradient, GAUSSIAN_SIGMA),
        ):
            row = CosineRow(d, source)
            for seed in range(settings.seeds):
                log(f"d = {d}: {source}, seed {seed}")
                cosines, times = nested_estimates(
                    estimator, problem, exact, budgets, 1000 * seed + d, step
                )
                for budget, value in cosines.items():
                    row.cosines.setdefault(budget, []).append(value)
                for budget, value in times.items():
                    row.times.setdefault(budget, []).append(value)
            random_rows.append(row)
        rows += [autograd_row, fd_row, random_rows[0], theory_row, random_rows[1]]
    return rows, timings


def budget_for(row: CosineRow, target: float, budgets: list[int]) -> int | None:
    """Smallest budget of the grid whose mean cosine reaches the target."""
    for budget in budgets:
        value = row.mean(budget)
        if value is not None and value >= target:
            return budget
    return None


def interpolated_budget(row: CosineRow, target: float, budgets: list[int]) -> float | None:
    """Budget at which the mean cosine crosses the target, interpolated in log2(budget)."""
    previous = None
    for budget in budgets:
        value = row.mean(budget)
        if value is None:
            continue
        if value >= target:
            if previous is None:
                return float(budget)
            b0, v0 = previous
            fraction = (target - v0) / (value - v0)
            return 2 ** (math.log2(b0) + fraction * (math.log2(budget) - math.log2(b0)))
        previous = (budget, value)
    return None


# --- 2. fitting --------------------------------------------------------------------


def adam_fit(
    problem: Problem,
    start: Tensor,
    gradient: Callable[[Tensor], tuple[Tensor, int]],
    optimum: Tensor | None,
    max_steps: int,
    max_evaluations: int,
) -> tuple[Tensor, list[tuple[int, float, float]], int, int, float]:
    envelope = start.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([envelope], lr=FIT_LR)
    history, evaluations, steps = [], 0, 0
    began = time.perf_counter()
    while steps < max_steps and evaluations < max_evaluations:
        grad, spent = gradient(envelope.detach())
        optimiser.zero_grad()
        envelope.grad = grad
        optimiser.step()
        evaluations += spent
        steps += 1
        if optimum is not None:
            error = cents_rms(envelope.detach(), optimum)
            history.append((evaluations, time.perf_counter() - began, error))
            if error < FIT_TOLERANCE_CENTS:
                break
    return envelope.detach(), history, steps, evaluations, time.perf_counter() - began


def find_optimum(problem: Problem, start: Tensor, steps: int) -> tuple[Tensor, Tensor, float]:
    """Autograd Adam for ``steps`` steps (the optimum), then 100 more (to see it settle)."""
    envelope = start.clone().requires_grad_(True)
    optimiser = torch.optim.Adam([envelope], lr=FIT_LR)
    began = time.perf_counter()
    for step in range(steps + 100):
        if step == steps:
            optimum, seconds = envelope.detach().clone(), time.perf_counter() - began
        optimiser.zero_grad()
        problem.loss(envelope).backward()
        optimiser.step()
    return optimum, envelope.detach().clone(), seconds


def fit_study(problem: Problem, settings: Settings, log) -> tuple[list[Fit], dict]:
    start_hz = torch.full((problem.d,), CENTER_HZ / FIT_START_RATIO, dtype=torch.float64)
    start = hz_to_log2_period(start_hz, SAMPLE_RATE).to(torch.float32)

    def autograd_step(x):
        return autograd_gradient(problem.loss, x).grad, 1

    log(f"fits: optimum ({settings.optimum_steps} autograd Adam steps)")
    optimum, check, optimum_s = find_optimum(problem, start, settings.optimum_steps)
    exact = autograd_gradient(problem.loss, optimum).grad
    optimum_info = {
        "steps": settings.optimum_steps,
        "seconds": optimum_s,
        "drift_cents": cents_rms(check, optimum),
        "grad_norm": float(exact.norm()),
        "start_grad_norm": float(autograd_gradient(problem.loss, start).grad.norm()),
        "start_error_cents": cents_rms(start, optimum),
        "vs_truth_cents": cents_rms(optimum, problem.truth),
    }

    fits = []

    def run(source, samples, gradient, max_steps):
        log(f"fits: {source}" + ("" if samples is None else f", n = {samples}"))
        _, history, steps, evaluations, seconds = adam_fit(
            problem, start, gradient, optimum, max_steps, settings.fit_max_evaluations
        )
        error = history[-1][2]
        fits.append(
            Fit(
                source,
                samples,
                steps,
                evaluations,
                seconds,
                error,
                error < FIT_TOLERANCE_CENTS,
                history,
            )
        )

    run("autograd", None, autograd_step, settings.fit_max_steps)
    for source, estimator, step, sample_counts in (
        ("SPSA", spsa_gradient, SPSA_EPSILON, settings.spsa_fit_samples),
        (
            "Gaussian smoothing",
            gaussian_smoothing_gradient,
            GAUSSIAN_SIGMA,
            settings.gaussian_fit_samples,
        ),
    ):
        for samples in sample_counts:
            generator = torch.Generator().manual_seed(FIT_SEED)

            def gradient(x, estimator=estimator, samples=samples, step=step, g=generator):
                estimate = estimator(
                    problem.loss,
                    x,
                    samples,
                    step,
                    g,
                    batched=True,
                    batch_size=min(samples, BATCH_SIZE),
                )
                return estimate.grad, estimate.evaluations

            run(source, samples, gradient, settings.fit_max_steps)
    return fits, optimum_info


# --- report ------------------------------------------------------------------------


def fmt_ms(seconds: float) -> str:
    ms = 1000 * seconds
    return f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"


def cosine_table(rows: list[CosineRow], budgets: list[int]) -> list[str]:
    lines = [
        "| d | gradient source | " + " | ".join(str(b) for b in budgets) + " |",
        "| --- | --- | " + " | ".join("---" for _ in budgets) + " |",
    ]
    for row in rows:
        cells = []
        for budget in budgets:
            value = row.mean(budget)
            cells.append("–" if value is None else f"{value:.3f}")
        lines.append(f"| {row.d} | {row.source} | " + " | ".join(cells) + " |")
    return lines


def cost_table(rows, timings, budgets) -> list[str]:
    lines = [
        "| d | gradient source | loss evaluations | cosine | wall time (ms) "
        "| in autograd forward+backward passes |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for timing in timings:
        d, unit = timing.d, timing.autograd_s

        def line(source, evaluations, cosine, seconds, d=d, unit=unit):
            ratio = "–" if seconds is None else f"{seconds / unit:.2f}"
            wall = "–" if seconds is None else fmt_ms(seconds)
            return f"| {d} | {source} | {evaluations} | {cosine} | {wall} | {ratio} |"

        lines.append(line("autograd: one forward + backward", "1 (fwd+bwd)", "1.000", unit))
        lines.append(line("one loss evaluation, unbatched", 1, "–", timing.forward_s))
        lines.append(
            line(
                f"one loss evaluation inside a batch of {2 * BATCH_SIZE}",
                1,
                "–",
                timing.batched_per_evaluation_s,
            )
        )
        lines.append(
            line(
                "finite differences",
                2 * d,
                f"{timing.finite_difference_cosine:.6f}",
                timing.finite_difference_s,
            )
        )
        for source in ("SPSA", "Gaussian smoothing"):
            row = next(r for r in rows if r.d == d and r.source == source)
            budget = budget_for(row, TARGET_COSINE, budgets)
            if budget is None:
                best = max(budgets)
                lines.append(
                    line(
                        f"{source}: cosine {TARGET_COSINE} not reached; largest budget",
                        best,
                        f"{row.mean(best):.3f}",
                        min(row.times[best]),
                    )
                )
            else:
                lines.append(
                    line(
                        f"{source}: smallest budget with mean cosine >= {TARGET_COSINE}",
                        budget,
                        f"{row.mean(budget):.3f}",
                        min(row.times[budget]),
                    )
                )
    return lines


def fits_table(fits: list[Fit], settings: Settings) -> list[str]:
    lines = [
        "| gradient source | converged | steps | loss evaluations | wall time (s) "
        "| final error (cents RMS vs optimum) | lowest error on the way (cents) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for fit in fits:
        evaluations = (
            f"{fit.evaluations} (fwd+bwd)" if fit.samples is None else str(fit.evaluations)
        )
        if fit.converged:
            status = "yes"
        elif fit.steps >= settings.fit_max_steps:
            status = f"no (step cap {settings.fit_max_steps})"
        else:
            status = f"no (evaluation cap {settings.fit_max_evaluations})"
        lowest = min(h[2] for h in fit.history)
        lines.append(
            f"| {fit.label} | {status} | {fit.steps} | {evaluations} | {fit.seconds:.2f} "
            f"| {fit.error_cents:.2f} | {lowest:.2f} |"
        )
    return lines


def spread_table(rows: list[CosineRow], budgets: list[int]) -> list[str]:
    lines = [
        "| d | estimator | loss evaluations | cosine mean | sd | min | max "
        "| wall time of the estimate (ms, min over seeds) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        if row.source not in ("SPSA", "Gaussian smoothing"):
            continue
        for budget in budgets:
            values = row.cosines.get(budget)
            if not values:
                continue
            mean = sum(values) / len(values)
            sd = math.sqrt(sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1))
            lines.append(
                f"| {row.d} | {row.source} | {budget} | {mean:.3f} | {sd:.3f} "
                f"| {min(values):.3f} | {max(values):.3f} | {fmt_ms(min(row.times[budget]))} |"
            )
    return lines


def environment_line(load_start: float, load_end: float) -> str:
    return (
        f"torch {torch.__version__}, torch.set_num_threads(1) (1 thread), "
        f"{os.cpu_count()} CPUs ({platform.machine()}), Python {platform.python_version()}, "
        f"load average {load_start:.1f} at the start and {load_end:.1f} at the end "
        "(the machine is shared: compare times within one run)"
    )


def render(
    settings: Settings,
    rows,
    timings,
    fits,
    optimum_info,
    load_start,
    load_end,
    elapsed,
    quick: bool,
) -> str:
    budgets = settings.budgets
    spsa = {r.d: r for r in rows if r.source == "SPSA"}
    out = [
        "# Gradient estimators on the dense fold loss",
        "",
        f"Generated by `{COMMAND}`"
        + (" (`--quick`: smoke-test settings)" if quick else "")
        + f" in {elapsed:.0f} s: {environment_line(load_start, load_end)}.",
        "",
        f"Setup: 1 s of {SAMPLE_RATE // 1000} kHz harmonic tone (1/h spectrum), vibrato "
        f"{CENTER_HZ:g} Hz, {VIBRATO_HZ:g} Hz, +-{VIBRATO_CENTS:g} cents. "
        f'`dense_fold_loss(kernel="{KERNEL}", normalization="{NORMALIZATION}", '
        f"max_period={MAX_PERIOD:.1f})`, per-frame losses summed. d control points over the "
        f"second (hop (N - 1) / (d - 1)). Gradients are compared at the true envelope plus "
        f"a smooth random offset of {OFFSET_CENTS_RMS:g} cents RMS (seed {OFFSET_SEED}). "
        f"SPSA: Rademacher directions, epsilon = {SPSA_EPSILON:g} (log2 units); Gaussian "
        f"smoothing: sigma = {GAUSSIAN_SIGMA:g}; finite differences: central, epsilon = "
        f"{SPSA_EPSILON:g}. All estimators run batched ({BATCH_SIZE} directions, i.e. "
        f"{2 * BATCH_SIZE} envelopes, per loss call). float32 envelopes and audio.",
        "",
        "## 1. Cosine similarity with the autograd gradient",
        "",
        f"Mean over {settings.seeds} seed(s) of the cosine similarity between each "
        "estimate and the exact autograd gradient, by budget of loss evaluations. SPSA and "
        "Gaussian smoothing spend 2 n evaluations on n directions (no estimate with 1). "
        "Finite differences need 2 d evaluations and appear from the first budget that "
        "holds them (deterministic: the same estimate). Autograd is one forward + backward "
        "pass, counted as 1. SPSA theory: (1 + (d - 1) / n)^(-1/2).",
        "",
        *cosine_table(rows, budgets),
        "",
        "![cosine similarity versus loss evaluations](../../docs/figures/gradient_cosine.png)",
        "",
        "### What a gradient costs",
        "",
        "Wall times: the minimum over "
        f"{settings.timing_repeats} runs after a warm-up for autograd and the unbatched "
        "evaluation; one timed call for finite differences; for SPSA and Gaussian "
        "smoothing, the calls that spent the budget (minimum over the seeds).",
        "",
        *cost_table(rows, timings, budgets),
        "",
    ]
    for d, row in spsa.items():
        crossing = interpolated_budget(row, TARGET_COSINE, budgets)
        theory = 2 * (d - 1) / (TARGET_COSINE**-2 - 1)
        if crossing is None:
            measured = (
                f"does not reach a mean cosine of {TARGET_COSINE} within {max(budgets)} loss "
                "evaluations"
            )
        else:
            measured = (
                f"reaches a mean cosine of {TARGET_COSINE} at about {crossing:.0f} loss "
                "evaluations (interpolated in log budget between grid points)"
            )
        out.append(
            f"- d = {d}: SPSA {measured}; the formula gives {theory:.0f} "
            f"(n = {theory / 2:.0f} directions)."
        )
    out += [
        "",
        "## 2. Fitting the envelope with Adam",
        "",
        f"d = {FIT_DIMENSION}; Adam, lr {FIT_LR}, from a constant envelope "
        f"{CENTER_HZ:g} Hz / {FIT_START_RATIO:g} (10 % flat, "
        f"{optimum_info['start_error_cents']:.0f} cents RMS from the optimum). The optimum is "
        f"the envelope after {optimum_info['steps']} autograd Adam steps from the same start "
        f"({optimum_info['seconds']:.1f} s); 100 further steps of the same run move it by "
        f"{optimum_info['drift_cents']:.3f} cents RMS, its gradient norm is "
        f"{optimum_info['grad_norm']:.2g} (at the start: "
        f"{optimum_info['start_grad_norm']:.2g}), and it is "
        f"{optimum_info['vs_truth_cents']:.2f} cents RMS from the true f0 at the control "
        "points. A fit stops when its RMS difference from the optimum is under "
        f"{FIT_TOLERANCE_CENTS:g} cents (checked after every step; the check is free), or "
        f"after {settings.fit_max_steps} steps or once it has spent "
        f"{settings.fit_max_evaluations} loss evaluations. One run per source (seed "
        f"{FIT_SEED}); n = directions per step (2 n evaluations per step). Wall time "
        "includes everything in the loop.",
        "",
        *fits_table(fits, settings),
        "",
        "![cents error versus loss evaluations](../../docs/figures/gradient_fits.png)",
        "",
        "## Appendix: spread over seeds",
        "",
        *spread_table(rows, budgets),
        "",
    ]
    return "\n".join(out)


# --- figures -----------------------------------------------------------------------


def plot_cosine(rows: list[CosineRow], timings: list[Timing], budgets, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = sorted({r.d for r in rows})
    figure, axes = plt.subplots(1, len(dims), figsize=(5.2 * len(dims), 4.5), sharey=True)
    axes = [axes] if len(dims) == 1 else list(axes)
    styles = {"SPSA": ("C0", "o"), "Gaussian smoothing": ("C1", "s")}
    for axis, d in zip(axes, dims, strict=True):
        for source, (color, marker) in styles.items():
            row = next(r for r in rows if r.d == d and r.source == source)
            xs = [b for b in budgets if row.cosines.get(b)]
            means = [row.mean(b) for b in xs]
            lows = [min(row.cosines[b]) for b in xs]
            highs = [max(row.cosines[b]) for b in xs]
            label = f"{source} (mean; band: seed range)"
            axis.plot(xs, means, marker=marker, color=color, label=label)
            axis.fill_between(xs, lows, highs, color=color, alpha=0.2, linewidth=0)
        theory = next(r for r in rows if r.d == d and r.source == "SPSA theory")
        xs = [b for b in budgets if theory.cosines.get(b)]
        axis.plot(
            xs,
            [theory.mean(b) for b in xs],
            "--",
            color="C0",
            alpha=0.7,
            label="SPSA theory (1 + (d-1)/n)^-1/2",
        )
        timing = next(t for t in timings if t.d == d)
        axis.plot(
            [2 * d],
            [timing.finite_difference_cosine],
            "D",
            color="C2",
            markersize=8,
            label="finite differences (2d evaluations)",
        )
        axis.plot([1], [1.0], "*", color="C3", markersize=14, label="autograd (1 fwd+bwd)")
        axis.axhline(TARGET_COSINE, color="grey", linestyle=":", linewidth=1)
        axis.set_xscale("log", base=2)
        axis.set(
            xlabel="loss evaluations per gradient estimate",
            title=f"d = {d} control points",
            ylim=(0, 1.05),
        )
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("cosine similarity with the autograd gradient")
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


def plot_fits(fits: list[Fit], path: Path, max_evaluations: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True)
    sample_counts = sorted({fit.samples for fit in fits if fit.samples is not None})
    for fit in fits:
        # autograd black; one colour per n, solid for SPSA, dashed for Gaussian smoothing
        color = "k" if fit.samples is None else f"C{sample_counts.index(fit.samples)}"
        style = "-" if fit.source != "Gaussian smoothing" else "--"
        evaluations = [h[0] for h in fit.history]
        seconds = [h[1] for h in fit.history]
        errors = [h[2] for h in fit.history]
        label = fit.label + ("" if fit.converged else " (did not converge)")
        if fit.samples is None:
            label = "autograd (1 evaluation = 1 fwd+bwd)"
        left.plot(evaluations, errors, style, color=color, label=label, linewidth=1.3)
        right.plot(seconds, errors, style, color=color, linewidth=1.3)
    for axis in (left, right):
        axis.axhline(FIT_TOLERANCE_CENTS, color="grey", linestyle=":", linewidth=1)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.grid(alpha=0.3, which="both")
    left.axvline(max_evaluations, color="grey", linestyle="-.", linewidth=1, label="evaluation cap")
    left.set(
        xlabel="loss evaluations spent",
        ylabel="RMS difference from the optimum (cents)",
        title=f"Adam, d = {FIT_DIMENSION}: error vs loss evaluations",
    )
    right.set(xlabel="wall time (s)", title="error vs wall time (1 CPU thread)")
    handles, labels = left.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.12, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120)
    plt.close(figure)


# --- main --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke run")
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"write {RESULTS_FILE.relative_to(ROOT)} and the figures under "
        f"{FIGURE_DIR.relative_to(ROOT)}",
    )
    return parser


def main(argv: list[str] | None = None) -> Results:
    args = build_parser().parse_args(argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared: one thread, said so in the output
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)  # leave the caller's setting (e.g. a test run) alone


def run(args: argparse.Namespace) -> Results:
    settings = Settings.from_args(args)

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - began:6.1f} s] {message}", file=sys.stderr, flush=True)

    began = time.perf_counter()
    load_start = os.getloadavg()[0]
    audio = make_audio()
    problems = [make_problem(d, audio) for d in DIMENSIONS]
    rows, timings = cosine_study(problems, settings, log)
    fit_problem = next(p for p in problems if p.d == FIT_DIMENSION)
    fits, optimum_info = fit_study(fit_problem, settings, log)
    elapsed = time.perf_counter() - began
    load_end = os.getloadavg()[0]

    markdown = render(
        settings,
        rows,
        timings,
        fits,
        optimum_info,
        load_start,
        load_end,
        elapsed,
        args.quick,
    )
    print(markdown)
    if args.write:
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text(markdown)
        plot_cosine(rows, timings, settings.budgets, COSINE_FIGURE)
        plot_fits(fits, FITS_FIGURE, settings.fit_max_evaluations)
        for path in (RESULTS_FILE, COSINE_FIGURE, FITS_FIGURE):
            print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return Results(settings, rows, timings, fits, optimum_info, markdown, elapsed)


if __name__ == "__main__":
    main()
