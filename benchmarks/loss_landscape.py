"""Loss landscape of the fold-alignment loss: how much smoothness gradient descent needs.

A steady tone at 16 kHz, f0 = 200 Hz (period T = 80 samples), 0.25 s, made of 1, 4 or 20
equal-amplitude harmonics (sines, zero phase, peak 0.5). The period is one constant
parameter ``theta = log2(period in samples)`` (an envelope with one control point).
``dense_fold_loss`` is called with ``min_period = 16000 / 1100`` and
``max_period = 16000 / 50`` everywhere, so the compared region (3664 samples) is the
same for every period.

Measured:

1. Landscape: the loss on a log grid of periods from 0.3 T to 3 T (plus T, 2 T and 3 T
   exactly) per kernel and normalisation (dense ``none``, ``energy``, ``submultiple``;
   cycle form ``none`` with ``reduction="sum"``, the original accumulated sum of
   norms); a zoom 0.9 T .. 1.1 T with the autograd derivative ``dL/dtheta``, its jumps
   and the curvature at T; where the minimum sits for periods that are not whole
   numbers of samples.
2. Basin of attraction (energy normalisation): plain gradient descent and Adam on theta,
   from starts on a log grid over 0.3 T .. 3 T, refined by bisection at both edges of the
   run of converging starts around T; full band and after a low-pass at 2.5 f0. Then the
   step size: a few fixed learning rates from starts inside the basin.
3. Degenerate minima: losses at T, 2 T, 3 T and at very short periods; the argmin of
   every landscape; the same with white noise at 20 dB SNR.
4. The recipe: a global search (submultiple-normalised loss on a lag grid) followed by
   Adam, either on the full band directly or first on a low-passed copy, from the search
   result and from deliberately wrong starts.

Regenerate ``benchmarks/results/loss_landscape.md`` and ``docs/figures/landscape_*.png``
with::

    PYTHONPATH=src python benchmarks/loss_landscape.py --write

``--quick`` is a smoke run of a few seconds (coarse grids, the cubic kernel only, short
runs); ``main`` returns the measurements as a dict.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from foldpitch.loss import dense_fold_loss, fold_alignment_loss
from foldpitch.synth import add_noise

ROOT = Path(__file__).resolve().parent.parent
RESULTS_FILE = ROOT / "benchmarks" / "results" / "loss_landscape.md"
FIGURES_DIR = ROOT / "docs" / "figures"

SR = 16000
F0 = 200.0
T = SR / F0  # 80 samples
N_SAMPLES = SR // 4  # 0.25 s
MIN_PERIOD = SR / 1100
MAX_PERIOD = SR / 50
HARMONICS = (1, 4, 20)
KERNELS = ("linear", "cubic", "sinc")
# (label, form, normalization)
NORMALIZATIONS = (
    ("dense none", "dense", "none"),
    ("dense energy", "dense", "energy"),
    ("dense submultiple", "dense", "submultiple"),
    ("cycle none (sum)", "cycle", "none"),
)
LOWPASS_FACTOR = 2.5  # cutoff = 2.5 f0: keeps harmonics 1 and 2
FIR_TAPS = 513  # Blackman-windowed sinc: transition about 5.5 * SR / FIR_TAPS = 170 Hz wide
TOLERANCE = 0.01  # "converged": final period within 1 % of T
THETA_MIN, THETA_MAX = math.log2(MIN_PERIOD), math.log2(MAX_PERIOD)
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
SNR_DB = 20.0
SHORT_PERIODS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
NOISY_SHORT_PERIODS = (0.5, 1.0, 2.0)
BIAS_PERIODS = (SR / 231, 80.5)  # true periods that are not whole numbers of samples


@dataclass(frozen=True)
class Settings:
    kernels: tuple[str, ...]
    grid_points: int  # log grid 0.3 T .. 3 T
    noisy_points: int  # the same, for the noisy tones
    zoom_step: float  # samples
    bias_step: float  # samples
    start_step: float  # octaves between coarse starts
    refine_rounds: int  # bisection rounds per basin edge (3 interior starts each)
    steps: int  # optimiser steps per basin run
    adam_lr: float
    gd_lrs: tuple[float, ...]
    adam_lrs: tuple[float, ...]
    step_size_fractions: tuple[float, ...]  # of the basin half-width, on either side
    step_size_steps: int
    recipe_f0s: tuple[float, ...]
    recipe_offsets: tuple[float, ...]  # relative errors of the deliberately wrong starts
    recipe_steps: int  # per stage
    recipe_final_lr_factor: float
    lag_step: int  # samples between global-search lags

    @classmethod
    def full(cls) -> Settings:
        return cls(
            kernels=KERNELS,
            grid_points=361,
            noisy_points=121,
            zoom_step=0.1,
            bias_step=0.005,
            start_step=0.1,
            refine_rounds=2,
            steps=100,
            adam_lr=0.02,
            gd_lrs=(1e-4, 1e-3, 1e-2, 1e-1),
            adam_lrs=(0.003, 0.01, 0.03, 0.1, 0.3),
            step_size_fractions=(2 / 3, 1 / 3),
            step_size_steps=100,
            recipe_f0s=(231.0,),
            recipe_offsets=(-0.15, -0.07, 0.07, 0.15),
            recipe_steps=60,
            recipe_final_lr_factor=0.1,
            lag_step=1,
        )

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            kernels=("cubic",),
            grid_points=31,
            noisy_points=11,
            zoom_step=1.0,
            bias_step=0.1,
            start_step=0.15,
            refine_rounds=0,
            steps=40,
            adam_lr=0.03,
            gd_lrs=(1e-3, 1e-1),
            adam_lrs=(0.01, 0.1),
            step_size_fractions=(0.5,),
            step_size_steps=15,
            recipe_f0s=(231.0,),
            recipe_offsets=(-0.07, 0.07),
            recipe_steps=8,
            recipe_final_lr_factor=0.1,
            lag_step=8,
        )


# --- signals ---------------------------------------------------------------------------


def tone(n_harmonics: int, f0: float = F0, n_samples: int = N_SAMPLES, pad: int = 0) -> Tensor:
    """Equal-amplitude harmonics 1..n_harmonics (zero phase), peak 0.5, float64,
    ``n_samples + 2 pad`` samples, sample ``pad`` at time 0."""
    t = torch.arange(-pad, n_samples + pad, dtype=torch.float64) / SR
    h = torch.arange(1, n_harmonics + 1, dtype=torch.float64)[:, None]
    x = torch.sin(2 * math.pi * h * f0 * t).sum(0)
    return 0.5 * x / x[pad : pad + n_samples].abs().max()


def lowpass_kernel(cutoff_hz: float) -> Tensor:
    n = torch.arange(FIR_TAPS, dtype=torch.float64) - (FIR_TAPS - 1) / 2
    fc = cutoff_hz / SR
    window = torch.blackman_window(FIR_TAPS, periodic=False, dtype=torch.float64)
    h = 2 * fc * torch.sinc(2 * fc * n) * window
    return h / h.sum()


def signal(n_harmonics: int, band: str, f0: float = F0, cutoff_hz: float | None = None) -> Tensor:
    """The float32 test tone, full band or low-passed (the filter runs on a longer tone
    and its valid part is kept, so there is no edge transient)."""
    if band == "full":
        return tone(n_harmonics, f0).float()
    pad = FIR_TAPS // 2
    long = tone(n_harmonics, f0, pad=pad)
    h = lowpass_kernel(LOWPASS_FACTOR * f0 if cutoff_hz is None else cutoff_hz)
    return torch.nn.functional.conv1d(long[None, None], h[None, None])[0, 0].float()


# --- the loss on many constant periods ---------------------------------------------------


def dense_losses(
    theta: Tensor, audio: Tensor, kernel: str, normalization: str, *, grad: bool = False
) -> tuple[Tensor, Tensor | None]:
    """Loss (and dL/dtheta) of constant periods ``2**theta``: one batched call per chunk.

    ``audio`` is one signal ``(N,)`` or one row per period ``(len(theta), N)``. The
    submultiple loss evaluates every fraction P/k down to min_period for the whole batch,
    so it is chunked by period (short periods need few fractions)."""
    theta = theta.to(torch.float32)
    order = torch.argsort(theta)
    chunk = 48 if normalization == "submultiple" else 4096
    losses, grads = torch.empty_like(theta), torch.empty_like(theta)
    for part in order.split(chunk):
        envelope = theta[part][:, None].clone().requires_grad_(grad)
        rows = audio[part] if audio.ndim == 2 else audio
        loss = dense_fold_loss(
            envelope,
            rows,
            kernel=kernel,
            normalization=normalization,
            min_period=MIN_PERIOD,
            max_period=MAX_PERIOD,
            reduction="none",
        )[:, 0]
        if grad:
            (g,) = torch.autograd.grad(loss.sum(), envelope)
            grads[part] = g[:, 0]
        losses[part] = loss.detach()
    return losses, grads if grad else None


def cycle_sums(periods: Tensor, audio: Tensor, kernel: str) -> Tensor:
    """The cycle form's accumulated sum of norms (``reduction="sum"``), one call per period."""
    return torch.stack(
        [
            fold_alignment_loss(
                torch.log2(p).reshape(1).float(), audio, kernel=kernel, reduction="sum"
            ).detach()
            for p in periods
        ]
    )


def losses_for(label: str, periods: Tensor, audio: Tensor, kernel: str) -> Tensor:
    form, normalization = {n[0]: n[1:] for n in NORMALIZATIONS}[label]
    if form == "cycle":
        return cycle_sums(periods, audio, kernel)
    return dense_losses(torch.log2(periods), audio, kernel, normalization)[0]


def landscape_grid(points: int) -> Tensor:
    grid = T * torch.logspace(math.log10(0.3), math.log10(3.0), points, dtype=torch.float64)
    return torch.unique(torch.cat([grid, torch.tensor([T / 2, T, 1.5 * T, 2 * T, 3 * T])]))


def local_minima(values: Tensor) -> int:
    """Strict interior local minima of a sampled curve."""
    v = values
    return int(((v[1:-1] < v[:-2]) & (v[1:-1] < v[2:])).sum())


def is_local_min(values: Tensor, i: int) -> bool:
    return bool(values[i] < values[i - 1] and values[i] < values[i + 1])


def flow_basin(periods: Tensor, losses: Tensor) -> tuple[float, float]:
    """The gradient-flow basin of T read off a landscape: the nearest local maxima on
    either side of T (or the end of the grid)."""
    i = int(torch.argmin((periods - T).abs()))
    lo = i
    while lo > 0 and losses[lo - 1] > losses[lo]:
        lo -= 1
    hi = i
    while hi < len(losses) - 1 and losses[hi + 1] > losses[hi]:
        hi += 1
    return float(periods[lo]), float(periods[hi])


def curvature_at_t(audio: Tensor, kernel: str, delta: float = 0.002) -> float:
    """d2L/dtheta2 at T (energy normalisation), central difference of autograd slopes."""
    theta = torch.tensor([math.log2(T) - delta, math.log2(T) + delta])
    _, g = dense_losses(theta, audio, kernel, "energy", grad=True)
    return float((g[1] - g[0]) / (2 * delta))


# --- optimisers ------------------------------------------------------------------------


def optimise(
    audio: Tensor,
    kernel: str,
    theta0: Tensor,
    optimizer: str,
    lr: Tensor | float,
    steps: int,
    *,
    final_lr_factor: float = 1.0,
    target_period: float = T,
    stop_early: bool = True,
) -> dict[str, Tensor]:
    """Plain gradient descent or Adam on each row of ``theta0`` independently (energy
    normalisation), theta clamped to [log2 min_period, log2 max_period] after each step.
    ``audio``: one signal, or one row per start.

    Adam is torch.optim.Adam's update (betas 0.9, 0.999, eps 1e-8) written out per row,
    so that every row can have its own learning rate. The learning rate decays
    geometrically to ``final_lr_factor`` times its first value over the run (1: constant).
    With ``stop_early``, a row that has moved less than 1e-4 octave over the last 10 steps
    is stopped (at that pace it would not move 1 % in the steps left). Returns the final
    theta, and the first step after which the row stayed within 1 % of
    ``target_period`` (-1: outside at the end)."""
    theta = theta0.to(torch.float32).clone()
    lr = torch.as_tensor(lr, dtype=torch.float32).expand_as(theta).clone()
    m, v = torch.zeros_like(theta), torch.zeros_like(theta)
    target, tol = math.log2(target_period), math.log2(1 + TOLERANCE)
    decay = final_lr_factor ** (1 / max(steps - 1, 1))
    settled_at = torch.full(theta.shape, -1, dtype=torch.long)  # -1: outside 1 % now
    active = torch.arange(theta.numel())
    history = [theta.clone()]
    for step in range(1, steps + 1):
        if active.numel() == 0:
            break
        rows = audio[active] if audio.ndim == 2 else audio
        _, g = dense_losses(theta[active], rows, kernel, "energy", grad=True)
        t_a = theta[active]
        lr_now = lr[active] * decay ** (step - 1)
        if optimizer == "gd":
            t_a = t_a - lr_now * g
        else:
            b1, b2 = ADAM_BETAS
            m[active] = b1 * m[active] + (1 - b1) * g
            v[active] = b2 * v[active] + (1 - b2) * g * g
            m_hat = m[active] / (1 - b1**step)
            v_hat = v[active] / (1 - b2**step)
            t_a = t_a - lr_now * m_hat / (v_hat.sqrt() + ADAM_EPS)
        theta[active] = t_a.clamp(THETA_MIN, THETA_MAX)
        inside = (theta[active] - target).abs() < tol
        settled_at[active] = torch.where(
            inside, torch.where(settled_at[active] < 0, step, settled_at[active]), -1
        )
        history.append(theta.clone())
        if stop_early and step >= 10 and step % 10 == 0:
            moved = (theta[active] - history[-11][active]).abs()
            active = active[moved >= 1e-4]
    return {"theta": theta, "settled_at": settled_at}


def converged(theta: Tensor) -> Tensor:
    return (torch.exp2(theta.double()) / T - 1).abs() <= TOLERANCE


def basin_search(audio, kernel, optimizer, lr, settings: Settings) -> dict:
    """Starts on a log grid (T included), then bisection at both edges of the contiguous
    run of converging starts around T (3 interior starts per round)."""
    k_lo = math.ceil(math.log2(0.3) / settings.start_step)
    k_hi = math.floor(math.log2(3.0) / settings.start_step)
    offsets = [k * settings.start_step for k in range(k_lo, k_hi + 1)]  # octaves from T
    results: dict[float, tuple[bool, float]] = {}

    def run(new_offsets):
        new_offsets = [d for d in new_offsets if d not in results]
        if not new_offsets:
            return
        theta0 = math.log2(T) + torch.tensor(new_offsets, dtype=torch.float64)
        out = optimise(audio, kernel, theta0, optimizer, lr, settings.steps)
        for d, th in zip(new_offsets, out["theta"], strict=True):
            results[d] = (bool(converged(th)), float(torch.exp2(th.double())))

    def edges():
        ds = sorted(results)
        i0 = ds.index(0.0)
        out = []
        for direction in (-1, 1):
            i = i0
            while 0 <= i + direction < len(ds) and results[ds[i + direction]][0]:
                i += direction
            outer = ds[i + direction] if 0 <= i + direction < len(ds) else None
            out.append((ds[i], outer))
        return out

    run(offsets)
    for _ in range(settings.refine_rounds):
        new = []
        for inner, outer in edges():
            if outer is not None:
                new += [inner + (outer - inner) * f for f in (0.25, 0.5, 0.75)]
        run(new)
    (lo_in, lo_out), (hi_in, hi_out) = edges()
    outside = [d for d in results if d < lo_in or d > hi_in]
    cents = [abs(1200 * math.log2(p / T)) for ok, p in results.values() if ok]
    return {
        "median_cents": float(torch.tensor(cents).median()),
        "low": T * 2**lo_in,
        "high": T * 2**hi_in,
        "low_bracket": None if lo_out is None else T * 2**lo_out,
        "high_bracket": None if hi_out is None else T * 2**hi_out,
        "converged_outside": sum(results[d][0] for d in outside),
        "outside": len(outside),
        "starts": len(results),
        "points": sorted((T * 2**d, p) for d, (_, p) in results.items()),
    }


# --- the sections ----------------------------------------------------------------------


def fmt(x: float, digits: int = 3) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.{digits}g}"


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def landscape_section(settings: Settings, data: dict) -> str:
    periods = landscape_grid(settings.grid_points)
    data["landscape_periods"] = periods
    curves, rows = {}, []
    for h in HARMONICS:
        audio = signal(h, "full")
        for kernel in settings.kernels:
            for label, *_ in NORMALIZATIONS:
                loss = losses_for(label, periods, audio, kernel)
                curves[h, kernel, label] = loss
                at = {m: float(loss[torch.argmin((periods - m * T).abs())]) for m in (1, 2, 3)}
                i = int(torch.argmin(loss))
                rows.append(
                    {
                        "harmonics": h,
                        "kernel": kernel,
                        "normalization": label,
                        "argmin_period": float(periods[i]),
                        "argmin_loss": float(loss[i]),
                        "loss_T": at[1],
                        "loss_2T": at[2],
                        "loss_3T": at[3],
                        "loss_1.5T": float(loss[torch.argmin((periods - 1.5 * T).abs())]),
                        "loss_2.5T": float(loss[torch.argmin((periods - 2.5 * T).abs())]),
                        "local_minima": local_minima(loss),
                        "local_min_2T": is_local_min(
                            loss, int(torch.argmin((periods - 2 * T).abs()))
                        ),
                    }
                )
    data["landscape"] = rows
    data["curves"] = curves
    text = [
        "## 1. Landscape and degenerate minima",
        f"Loss at {len(periods)} constant periods (log grid 0.3 T .. 3 T plus T/2, T, 1.5 T, "
        "2 T, 3 T exactly), T = 80 samples. `argmin` is over this grid; `minima` counts the "
        'strict local minima of the sampled curve. Dense losses: `reduction="none"` of one '
        'frame; cycle form: `reduction="sum"`, the original accumulated sum of norms.',
        table(
            [
                "harmonics",
                "kernel",
                "normalisation",
                "argmin (samples)",
                "loss at T",
                "at 2 T",
                "at 3 T",
                "at 1.5 T",
                "at 2.5 T",
                "minima",
                "2 T a local min",
            ],
            [
                [
                    r["harmonics"],
                    r["kernel"],
                    r["normalization"],
                    fmt(r["argmin_period"], 4),
                    fmt(r["loss_T"]),
                    fmt(r["loss_2T"]),
                    fmt(r["loss_3T"]),
                    fmt(r["loss_1.5T"]),
                    fmt(r["loss_2.5T"]),
                    r["local_minima"],
                    "yes" if r["local_min_2T"] else "no",
                ]
                for r in rows
            ],
        ),
    ]
    return "\n\n".join(text)


def short_period_section(settings: Settings, data: dict) -> str:
    kernel = settings.kernels[-1]
    periods = torch.tensor(SHORT_PERIODS, dtype=torch.float64)
    rows = []
    for h in HARMONICS:
        audio = signal(h, "full")
        for label, *_ in NORMALIZATIONS:
            loss = losses_for(label, periods, audio, kernel)
            at_t = losses_for(label, torch.tensor([T], dtype=torch.float64), audio, kernel)
            rows.append(
                {
                    "harmonics": h,
                    "normalization": label,
                    "losses": [float(v) for v in loss],
                    "loss_T": float(at_t[0]),
                }
            )
    data["short_periods"] = rows
    return "\n\n".join(
        [
            "### Very short periods",
            f"Kernel `{kernel}`. The periods below are under min_period = {MIN_PERIOD:.1f} "
            "samples: the submultiple penalty only looks at fractions P/k >= min_period, so "
            "there it equals the energy loss.",
            table(
                ["harmonics", "normalisation"] + [f"P = {p:g}" for p in SHORT_PERIODS] + ["P = T"],
                [
                    [r["harmonics"], r["normalization"]]
                    + [fmt(v) for v in r["losses"]]
                    + [fmt(r["loss_T"])]
                    for r in rows
                ],
            ),
        ]
    )


def noisy_section(settings: Settings, data: dict) -> str:
    kernel = settings.kernels[-1]
    grid = landscape_grid(settings.noisy_points)
    short = torch.tensor(NOISY_SHORT_PERIODS, dtype=torch.float64)
    rows = []
    for h in HARMONICS:
        audio = add_noise(tone(h).float(), SNR_DB, torch.Generator().manual_seed(h))
        for label, *_ in NORMALIZATIONS:
            loss = losses_for(label, torch.cat([short, grid]), audio, kernel)
            loss_short, loss_grid = loss[: len(short)], loss[len(short) :]
            at = [float(loss_grid[torch.argmin((grid - m * T).abs())]) for m in (1, 2, 3)]
            rows.append(
                {
                    "harmonics": h,
                    "normalization": label,
                    "argmin_period": float(grid[torch.argmin(loss_grid)]),
                    "at": at,
                    "short": [float(v) for v in loss_short],
                }
            )
    data["noisy"] = rows
    return "\n\n".join(
        [
            f"### With white noise at {SNR_DB:g} dB SNR",
            f"Kernel `{kernel}`; the same tones plus white Gaussian noise (`foldpitch.synth."
            f"add_noise`, seed = number of harmonics); argmin over a {len(grid)}-point grid "
            "0.3 T .. 3 T; then the loss at three periods below min_period.",
            table(
                [
                    "harmonics",
                    "normalisation",
                    "argmin in 0.3 T .. 3 T",
                    "loss at T",
                    "at 2 T",
                    "at 3 T",
                ]
                + [f"P = {p:g}" for p in NOISY_SHORT_PERIODS],
                [
                    [r["harmonics"], r["normalization"], fmt(r["argmin_period"], 4)]
                    + [fmt(v) for v in r["at"]]
                    + [fmt(v) for v in r["short"]]
                    for r in rows
                ],
            ),
        ]
    )


def zoom_section(settings: Settings, data: dict) -> str:
    periods = torch.arange(0.9 * T, 1.1 * T + 1e-9, settings.zoom_step, dtype=torch.float64)
    theta = torch.log2(periods)
    even = torch.arange(math.ceil(0.9 * T / 2) * 2, 1.1 * T, 2, dtype=torch.float64)
    eps = 0.005  # samples
    probes = torch.cat([even + k * eps for k in (-3, -1, 1, 3)])
    zoom, rows = {}, []
    for h in HARMONICS:
        audio = signal(h, "full")
        for kernel in settings.kernels:
            loss, g = dense_losses(theta, audio, kernel, "energy", grad=True)
            zoom[h, kernel] = (loss, g)
            _, gp = dense_losses(torch.log2(probes), audio, kernel, "energy", grad=True)
            g3m, g1m, g1p, g3p = gp.double().reshape(4, -1)
            # The change across P minus the change expected from the slope's own trend
            # on either side: ~0 where the slope is continuous.
            jump = float(((g1p - g1m) - 0.5 * ((g3p - g1p) + (g1m - g3m))).abs().max())
            rows.append(
                {
                    "harmonics": h,
                    "kernel": kernel,
                    "curvature": curvature_at_t(audio, kernel),
                    "max_abs_slope": float(g.abs().max()),
                    "max_jump": jump,
                    "local_minima": local_minima(loss),
                    "argmin_period": float(periods[torch.argmin(loss)]),
                }
            )
    data["zoom_periods"], data["zoom"], data["zoom_rows"] = periods, zoom, rows
    return "\n\n".join(
        [
            "## 2. Near the true period: kernels",
            f"Energy normalisation, periods 72 .. 88 samples every {settings.zoom_step:g} sample. "
            "`slope` is dL/dtheta (theta = log2 period) by autograd. `jump`: the largest step "
            "of the slope across an even period 72, 74, .., 88 (where both centred reads cross "
            "a sample): slope(P + 0.005) - slope(P - 0.005) minus the trend from slopes at "
            "P +- 0.015 samples. `curvature`: d2L/dtheta2 at T "
            "(central difference of slopes, +-0.002 octave); plain gradient descent is stable "
            "near T only for a learning rate below 2 / curvature.",
            table(
                [
                    "harmonics",
                    "kernel",
                    "curvature at T",
                    "2 / curvature",
                    "max abs slope",
                    "max slope jump",
                    "jump / max slope",
                    "local minima",
                    "argmin",
                ],
                [
                    [
                        r["harmonics"],
                        r["kernel"],
                        fmt(r["curvature"]),
                        fmt(2 / r["curvature"]),
                        fmt(r["max_abs_slope"]),
                        fmt(r["max_jump"]),
                        fmt(r["max_jump"] / r["max_abs_slope"]),
                        r["local_minima"],
                        fmt(r["argmin_period"], 4),
                    ]
                    for r in rows
                ],
            ),
        ]
    )


def bias_section(settings: Settings, data: dict) -> str:
    rows = []
    for period in BIAS_PERIODS:
        grid = period + torch.arange(-1, 1 + 1e-9, settings.bias_step, dtype=torch.float64)
        for h in HARMONICS:
            audio = signal(h, "full", SR / period)
            errors = []
            for kernel in settings.kernels:
                loss, _ = dense_losses(torch.log2(grid), audio, kernel, "energy")
                errors.append(1200 * math.log2(float(grid[torch.argmin(loss)]) / period))
            rows.append({"period": period, "harmonics": h, "cents": errors})
    data["bias"] = rows
    return "\n\n".join(
        [
            "### Where the minimum sits when the period is not a whole number of samples",
            f"Energy loss on periods P +- 1 sample every {settings.bias_step:g} sample around "
            "the true period P of a tone at f0 = 16000 / P; error of the grid argmin in cents "
            f"(grid step {1200 * math.log2(1 + settings.bias_step / min(BIAS_PERIODS)):.2f} "
            "cents or less).",
            table(
                ["true period", "harmonics"]
                + [f"argmin error, {k} (cents)" for k in settings.kernels],
                [
                    [fmt(r["period"], 4), r["harmonics"]] + [f"{e:+.2f}" for e in r["cents"]]
                    for r in rows
                ],
            ),
        ]
    )


# Low-passed at 2.5 f0, the 1-harmonic tone is the full-band one (a 200 Hz sine passes)
# and the 4- and 20-harmonic tones are the same two-harmonic signal up to a gain, which
# the energy normalisation ignores. Only the 20-harmonic one is optimised; the section
# checks the identities on the landscapes and copies that row.
LOWPASS_SAME_AS = {1: ("full", 1), 4: ("lowpass", 20), 20: None}


def basin_section(settings: Settings, data: dict) -> str:
    periods = data["landscape_periods"]
    theta = torch.log2(periods)
    bands = {}
    for h in HARMONICS:
        for kernel in settings.kernels:
            bands["full", h, kernel] = data["curves"][h, kernel, "dense energy"]
            bands["lowpass", h, kernel] = dense_losses(
                theta, signal(h, "lowpass"), kernel, "energy"
            )[0]
    data["bands"] = bands
    identity = {
        h: max(
            float((bands["lowpass", h, k] - bands[(*LOWPASS_SAME_AS[h], k)]).abs().max())
            for k in settings.kernels
        )
        for h in HARMONICS
        if LOWPASS_SAME_AS[h]
    }
    data["lowpass_identity"] = identity

    rows = []
    for band, h in [("full", h) for h in HARMONICS] + [("lowpass", 20)]:
        audio = signal(h, band)
        for kernel in settings.kernels:
            flow = flow_basin(periods, bands[band, h, kernel])
            kappa = curvature_at_t(audio, kernel)
            for optimizer, lr in (("gd", 0.5 / kappa), ("adam", settings.adam_lr)):
                b = basin_search(audio, kernel, optimizer, lr, settings)
                rows.append(
                    {
                        "band": band,
                        "harmonics": h,
                        "kernel": kernel,
                        "optimizer": optimizer,
                        "lr": lr,
                        "curvature": kappa,
                        "flow_low": flow[0],
                        "flow_high": flow[1],
                        "copied_from": None,
                        **b,
                    }
                )
    for h in (1, 4):
        for r in [r for r in rows if (r["band"], r["harmonics"]) == LOWPASS_SAME_AS[h]]:
            flow = flow_basin(periods, bands["lowpass", h, r["kernel"]])
            rows.append(
                {
                    **r,
                    "band": "lowpass",
                    "harmonics": h,
                    "flow_low": flow[0],
                    "flow_high": flow[1],
                    "copied_from": LOWPASS_SAME_AS[h],
                }
            )
    order = {band: i for i, band in enumerate(("full", "lowpass"))}
    rows.sort(key=lambda r: (order[r["band"]], r["harmonics"]))
    data["basin"] = rows

    def rel(p):
        return "-" if p is None else f"{p / T:.3f}"

    cutoff = LOWPASS_FACTOR * F0
    return "\n\n".join(
        [
            "## 3. Basin of attraction (energy normalisation)",
            f"Starts every {settings.start_step:g} octave from 0.3 T to 3 T (T included), then "
            f"{settings.refine_rounds} rounds of bisection (3 starts each) at each edge of the "
            f"contiguous run of converging starts around T; {settings.steps} steps per run; "
            f"converged = final period within {TOLERANCE:.0%} of T. Plain gradient descent (gd) "
            f"uses lr = 0.5 / curvature at T (tuned per row: the largest stable lr is "
            f"2 / curvature); Adam lr = {settings.adam_lr:g}. Theta is clamped to "
            f"[log2 {MIN_PERIOD:.1f}, log2 {MAX_PERIOD:g}]. `basin` = lowest and highest "
            "converging start of that contiguous run, as period / T; `bracket` = the nearest "
            "non-converging starts found. `flow basin` = the nearest local maxima of the loss "
            "either side of T on the landscape grid (where exact gradient flow would stop). "
            "`elsewhere` = converging starts outside the run / starts outside it. `final "
            "error` = median |final period error| of the converged starts. A run that "
            "moves less than 1e-4 octave in 10 steps is stopped there.",
            f"Low-pass: Blackman-windowed sinc, {FIR_TAPS} taps, cutoff {cutoff:g} Hz "
            "(harmonics 1 and 2 pass; 3 and up are in the stop band). After it, the 1-harmonic "
            "tone is the full-band one and the 4- and 20-harmonic tones are the same "
            "two-harmonic signal up to a gain, which the energy normalisation ignores: only the "
            "20-harmonic one is optimised, and the rows marked `copy` repeat a measured row. "
            "Largest difference between the energy landscapes (over the grid, all kernels): "
            f"low-passed vs full-band 1-harmonic tone {fmt(identity[1])}, low-passed 4- vs "
            f"20-harmonic tone {fmt(identity[4])}.",
            table(
                [
                    "band",
                    "harmonics",
                    "kernel",
                    "optimiser",
                    "lr",
                    "basin (P / T)",
                    "bracket",
                    "flow basin",
                    "elsewhere",
                    "final error (cents)",
                ],
                [
                    [
                        r["band"] + (" (copy)" if r["copied_from"] else ""),
                        r["harmonics"],
                        r["kernel"],
                        r["optimizer"],
                        fmt(r["lr"]),
                        f"{rel(r['low'])} .. {rel(r['high'])}",
                        f"{rel(r['low_bracket'])} .. {rel(r['high_bracket'])}",
                        f"{rel(r['flow_low'])} .. {rel(r['flow_high'])}",
                        f"{r['converged_outside']} / {r['outside']}",
                        fmt(r["median_cents"]),
                    ]
                    for r in rows
                ],
            ),
        ]
    )


def step_size_section(settings: Settings, data: dict) -> str:
    kernel = settings.kernels[-1]
    rows = []
    for h in HARMONICS:
        audio = signal(h, "full")
        flow = next(
            r
            for r in data["basin"]
            if (r["band"], r["harmonics"], r["kernel"]) == ("full", h, kernel)
        )
        kappa = flow["curvature"]
        # Starts at fractions of the flow basin's half-width (octaves) on either side.
        d_lo, d_hi = math.log2(flow["flow_low"] / T), math.log2(flow["flow_high"] / T)
        fractions = settings.step_size_fractions
        offsets = [f * d_lo for f in fractions] + [f * d_hi for f in reversed(fractions)]
        for optimizer, lrs in (("gd", settings.gd_lrs), ("adam", settings.adam_lrs)):
            theta0 = math.log2(T) + torch.tensor(offsets * len(lrs), dtype=torch.float64)
            lr = torch.tensor([lr for lr in lrs for _ in offsets])
            out = optimise(
                audio, kernel, theta0, optimizer, lr, settings.step_size_steps, stop_early=False
            )
            for i, value in enumerate(lrs):
                part = slice(i * len(offsets), (i + 1) * len(offsets))
                th, at = out["theta"][part], out["settled_at"][part]
                ok = converged(th)
                cents = (1200 * (th.double() - math.log2(T))).abs()
                rows.append(
                    {
                        "harmonics": h,
                        "optimizer": optimizer,
                        "lr": value,
                        "lr_x_curvature": value * kappa,
                        "converged": int(ok.sum()),
                        "starts": len(offsets),
                        "median_steps": float(at[ok].double().median()) if ok.any() else None,
                        "median_cents": float(cents.median()),
                        "max_cents_converged": float(cents[ok].max()) if ok.any() else None,
                        "starts_periods": [T * 2**d for d in offsets],
                    }
                )
    data["step_size"] = rows
    return "\n\n".join(
        [
            "## 4. Step size (inside the basin)",
            f"Kernel `{kernel}`, energy normalisation, full band, constant learning rate; "
            f"{2 * len(settings.step_size_fractions)} starts at "
            f"{', '.join(f'{f:.0%}' for f in settings.step_size_fractions)} of the flow basin's "
            "half-width (in octaves) on either side of T (listed in samples); "
            f"{settings.step_size_steps} steps. `steps` = median first step after which the "
            "period stayed within 1 % (converged starts only); `error` = median final |error| "
            "over all starts; `max error (conv.)` = largest final error among converged "
            "starts, in cents (1 % = 17.2 cents).",
            table(
                [
                    "harmonics",
                    "starts (samples)",
                    "optimiser",
                    "lr",
                    "lr x curvature",
                    "converged",
                    "steps",
                    "error (cents)",
                    "max error (conv.)",
                ],
                [
                    [
                        r["harmonics"],
                        " ".join(f"{p:.1f}" for p in r["starts_periods"]),
                        r["optimizer"],
                        fmt(r["lr"]),
                        fmt(r["lr_x_curvature"]) if r["optimizer"] == "gd" else "-",
                        f"{r['converged']} / {r['starts']}",
                        fmt(r["median_steps"]),
                        fmt(r["median_cents"]),
                        fmt(r["max_cents_converged"]),
                    ]
                    for r in rows
                ],
            ),
        ]
    )


def recipe_section(settings: Settings, data: dict) -> str:
    kernel = settings.kernels[-1]
    lags = torch.arange(
        math.ceil(MIN_PERIOD), math.floor(MAX_PERIOD) + 1, settings.lag_step, dtype=torch.float64
    )
    steps, lr, final = settings.recipe_steps, settings.adam_lr, settings.recipe_final_lr_factor
    rows = []
    for f0 in settings.recipe_f0s:
        true_period = SR / f0
        for h in HARMONICS:
            full = signal(h, "full", f0)
            score, _ = dense_losses(torch.log2(lags), full, "linear", "submultiple")
            found = float(lags[torch.argmin(score)])
            starts = torch.tensor(
                [found] + [true_period * (1 + o) for o in settings.recipe_offsets],
                dtype=torch.float64,
            )
            run = dict(final_lr_factor=final, target_period=true_period, stop_early=False)
            direct = optimise(full, kernel, torch.log2(starts), "adam", lr, 2 * steps, **run)
            # Each start low-passes at 2.5 x its own f0 estimate: one audio row per start.
            lowpassed = torch.stack(
                [signal(h, "lowpass", f0, cutoff_hz=LOWPASS_FACTOR * SR / float(p)) for p in starts]
            )
            coarse = optimise(lowpassed, kernel, torch.log2(starts), "adam", lr, steps, **run)
            fine = optimise(full, kernel, coarse["theta"], "adam", lr, steps, **run)
            errors = {
                name: (1200 * (out["theta"].double() - math.log2(true_period))).tolist()
                for name, out in (("full band", direct), ("low-pass, then full band", fine))
            }
            errors["after the low-pass stage"] = (
                1200 * (coarse["theta"].double() - math.log2(true_period))
            ).tolist()
            rows.append(
                {
                    "f0": f0,
                    "period": true_period,
                    "harmonics": h,
                    "global_search": found,
                    "errors": errors,
                }
            )
    data["recipe"] = rows
    offsets = ", ".join(f"{o:+.0%}" for o in settings.recipe_offsets)
    body = []
    for r in rows:
        for strategy in ("full band", "after the low-pass stage", "low-pass, then full band"):
            errs = r["errors"][strategy]
            body.append(
                [
                    fmt(r["f0"], 4),
                    fmt(r["period"], 4),
                    r["harmonics"],
                    fmt(r["global_search"], 4),
                    strategy,
                    f"{errs[0]:+.2f}",
                    " ".join(f"{e:+.1f}" for e in errs[1:]),
                    fmt(max(abs(e) for e in errs[1:])),
                ]
            )
    return "\n\n".join(
        [
            "## 5. The recipe: global search, then coarse-to-fine",
            "Global search: the submultiple-normalised dense loss (kernel `linear`) on the lag "
            f"grid {int(lags[0])}, {int(lags[1])}, .., {int(lags[-1])} samples; its argmin starts "
            f"the refinement. Refinement: Adam (lr {lr:g} decaying geometrically to "
            f"{lr * final:g} over each stage, kernel `{kernel}`, energy normalisation), either "
            f"{2 * steps} steps on the full band, or {steps} steps on a copy low-passed at "
            f"2.5 x the starting estimate's f0, then {steps} steps on the full band. The same "
            f"refinement also from deliberately wrong starts at {offsets} of the true period "
            "(what a coarse candidate grid or a network's first guess could give). Final "
            "errors in cents (1 % = 17.2 cents).",
            table(
                [
                    "f0 (Hz)",
                    "period",
                    "harmonics",
                    "global argmin",
                    "refinement",
                    "error from argmin",
                    f"errors from starts {offsets}",
                    "worst of those",
                ],
                body,
            ),
        ]
    )


# --- figures ---------------------------------------------------------------------------


def write_figures(settings: Settings, data: dict) -> list[Path]:
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    def log_axis(axis, ticks=(0.3, 0.5, 1, 1.5, 2, 3)):
        axis.set_minor_formatter(NullFormatter())
        axis.set_ticks(list(ticks))
        axis.set_ticklabels([f"{t:g}" for t in ticks])

    FIGURES_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    periods = data["landscape_periods"].numpy()
    kernel = settings.kernels[-1]
    colors = {
        "dense none": "tab:gray",
        "dense energy": "tab:blue",
        "dense submultiple": "tab:red",
        "cycle none (sum)": "tab:green",
    }

    fig, axes = plt.subplots(len(HARMONICS), 1, figsize=(9, 8.5), sharex=True)
    for ax, h in zip(axes, HARMONICS, strict=True):
        for label, *_ in NORMALIZATIONS:
            loss = data["curves"][h, kernel, label].numpy()
            scale = loss.max() if label in ("dense none", "cycle none (sum)") else 1.0
            name = label + (" (/ max)" if scale != 1.0 else "")
            ax.plot(periods / T, loss / scale, color=colors[label], lw=1.2, label=name)
        for m in (1, 2, 3):
            ax.axvline(m, color="k", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_title(
            f"{h} equal-amplitude harmonic{'s' if h > 1 else ''}, kernel {kernel}", fontsize=10
        )
        ax.set_ylabel("loss")
        ax.set_ylim(bottom=0)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, ncol=4, loc="upper center")
    axes[-1].set_xlabel("period / true period (T = 80 samples; dotted: T, 2T, 3T)")
    log_axis(axes[-1].xaxis)
    fig.tight_layout(rect=(0, 0, 1, 0.965))
    written.append(_save(fig, "landscape_normalisations.png"))

    zp = data["zoom_periods"].numpy()
    fig, axes = plt.subplots(2, len(HARMONICS), figsize=(12, 6.5), sharex=True)
    styles = {
        "linear": ("tab:orange", "-"),
        "cubic": ("tab:green", "--"),
        "sinc": ("tab:blue", ":"),
    }
    for col, h in enumerate(HARMONICS):
        for k in settings.kernels:
            loss, g = data["zoom"][h, k]
            c, ls = styles[k]
            axes[0, col].plot(zp, loss.numpy(), color=c, ls=ls, lw=1.4, label=k)
            axes[1, col].plot(zp, g.numpy(), color=c, ls=ls, lw=1.4, label=k)
        axes[0, col].set_title(f"{h} harmonic{'s' if h > 1 else ''}", fontsize=10)
        axes[1, col].axhline(0, color="k", lw=0.5)
        axes[1, col].set_xlabel("period (samples)")
        for row in range(2):
            for p in np.arange(72, 89, 2):
                axes[row, col].axvline(p, color="k", lw=0.3, alpha=0.3)
    axes[0, 0].set_ylabel("energy-normalised loss")
    axes[1, 0].set_ylabel("dL / d log2(period) (autograd)")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(
        "Near T = 80 samples (grey lines: even periods, where linear reads cross samples)",
        fontsize=10,
    )
    fig.tight_layout()
    written.append(_save(fig, "landscape_kernels_zoom.png"))

    fig, axes = plt.subplots(len(HARMONICS), 1, figsize=(9, 8.5), sharex=True)
    for ax, h in zip(axes, HARMONICS, strict=True):
        for band, c in (("full", "tab:blue"), ("lowpass", "tab:red")):
            loss = data["bands"][band, h, kernel].numpy()
            ax.plot(
                periods / T,
                loss,
                color=c,
                lw=1.2,
                label=f"{'full band' if band == 'full' else 'low-passed at 2.5 f0'}",
            )
            r = next(
                r
                for r in data["basin"]
                if (r["band"], r["harmonics"], r["kernel"], r["optimizer"])
                == (band, h, kernel, "adam")
            )
            ax.axvspan(r["low"] / T, r["high"] / T, color=c, alpha=0.12)
        ax.axvline(1, color="k", lw=0.6, ls=":")
        ax.set_xscale("log")
        ax.set_ylabel("energy loss")
        ax.set_title(
            f"{h} harmonic{'s' if h > 1 else ''}, kernel {kernel}; shaded: starts "
            "from which Adam converges to T",
            fontsize=10,
        )
    axes[0].legend(fontsize=8, loc="upper right")
    axes[-1].set_xlabel("period / true period")
    log_axis(axes[-1].xaxis)
    fig.tight_layout()
    written.append(_save(fig, "landscape_lowpass.png"))

    fig, axes = plt.subplots(1, len(HARMONICS), figsize=(12, 4), sharey=True)
    for ax, h in zip(axes, HARMONICS, strict=True):
        for band, optimizer, c, marker in (
            ("full", "gd", "tab:blue", "o"),
            ("full", "adam", "tab:cyan", "x"),
            ("lowpass", "gd", "tab:red", "o"),
            ("lowpass", "adam", "tab:orange", "x"),
        ):
            r = next(
                r
                for r in data["basin"]
                if (r["band"], r["harmonics"], r["kernel"], r["optimizer"])
                == (band, h, kernel, optimizer)
            )
            pts = np.array(r["points"]) / T
            ax.scatter(
                pts[:, 0],
                pts[:, 1],
                s=14,
                color=c,
                marker=marker,
                label=f"{band}, {optimizer}",
                alpha=0.8,
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        log_axis(ax.xaxis, (0.3, 0.5, 1, 2, 3))
        log_axis(ax.yaxis, (0.2, 0.3, 0.5, 1, 2, 3))
        ax.axhline(1, color="k", lw=0.5, ls=":")
        ax.set_xlabel("start period / T")
        ax.set_title(f"{h} harmonic{'s' if h > 1 else ''}, kernel {kernel}", fontsize=10)
    axes[0].set_ylabel("final period / T")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    written.append(_save(fig, "landscape_basin.png"))
    return written


def _save(fig, name: str) -> Path:
    import matplotlib.pyplot as plt

    path = FIGURES_DIR / name
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# --- main ------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run of a few seconds")
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"write {RESULTS_FILE.relative_to(ROOT)} and the figures",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    settings = Settings.quick() if args.quick else Settings.full()
    start = time.perf_counter()
    data: dict = {"settings": asdict(settings)}
    report = [
        "# Fold-alignment loss: landscape, basins, degenerate minima",
        f"Generated by `PYTHONPATH=src python benchmarks/loss_landscape.py"
        f"{' --quick' if args.quick else ''} --write` (torch {torch.__version__}, 1 thread, "
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs). Tone: {SR} Hz, "
        f"f0 {F0:g} Hz (T = {T:g} samples), {N_SAMPLES} samples, 1 / 4 / 20 equal-amplitude "
        f"harmonics. All dense calls: min_period {MIN_PERIOD:.2f}, max_period {MAX_PERIOD:g}.",
    ]
    timings = {}
    for name, section in (
        ("landscape", landscape_section),
        ("short", short_period_section),
        ("noisy", noisy_section),
        ("zoom", zoom_section),
        ("bias", bias_section),
        ("basin", basin_section),
        ("step_size", step_size_section),
        ("recipe", recipe_section),
    ):
        t0 = time.perf_counter()
        report.append(section(settings, data))
        timings[name] = time.perf_counter() - t0
        print(f"[{name}: {timings[name]:.1f} s]", flush=True)
    data["timings"] = timings
    report.append(f"Whole run: {time.perf_counter() - start:.0f} s.")
    text = "\n\n".join(report) + "\n"
    print(text)
    if args.write:
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text(text)
        for path in write_figures(settings, data):
            print(f"wrote {path.relative_to(ROOT)}")
    return data


if __name__ == "__main__":
    main()
