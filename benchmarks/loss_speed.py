"""Speed and memory of the fold-alignment losses and of ``foldpitch.interp.sample`` (CPU).

Measured:

1. Wall time of forward + backward (gradient with respect to the period envelope;
   minimum over repeats after a warm-up) of the cycle-boundary form
   (``fold_alignment_loss``, with its fused C kernel, the default on CPU, and with its
   PyTorch path, ``backend="torch"``) and the dense form (``dense_fold_loss``,
   ``normalization="energy"``) per kernel on 10 s of harmonic tones at 16 and 44.1 kHz,
   batch 1 and 16, one envelope control point per 10 ms, against the forward pass of the
   original Python loop (``reference_fold_loss``) on the same input.
2. Peak memory of each of those cases: the increase of ``ru_maxrss`` during one
   forward + backward, each case in a fresh subprocess.
3. Time and peak memory of ``sample`` (forward + backward, gradients with respect to the
   signal and the positions) on 10 s of 48 kHz audio read at fractional positions,
   against a naive autograd version that gathers every tap into a ``(positions, taps)``
   tensor.

Regenerate ``benchmarks/results/loss_speed.md`` with::

    PYTHONPATH=src python benchmarks/loss_speed.py --write
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch import Tensor

from foldpitch.interp import sample
from foldpitch.loss import dense_fold_loss, fold_alignment_loss, reference_fold_loss

RESULTS_FILE = Path(__file__).parent / "results" / "loss_speed.md"

SAMPLE_RATES = (16000, 44100)
KERNELS = ("linear", "cubic", "sinc")
LOSS_SINC_HALF_WIDTH = 8
INTERP_SINC_HALF_WIDTH = 16
INTERP_SAMPLE_RATE = 48000
BATCH_F0S = {  # f0 of each row of the batch, Hz
    "single": [220.0],
    "mixed": [100.0 * 4 ** (i / 15) for i in range(16)],  # 100-400 Hz, log-spaced
    "similar": [210.0 + 20.0 * i / 15 for i in range(16)],  # 210-230 Hz
}
BATCH_LABELS = {
    "single": "batch 1 (220 Hz)",
    "mixed": "batch 16 mixed (100-400 Hz)",
    "similar": "batch 16 similar (210-230 Hz)",
}
FORMS = ("cycle", "cycle-torch", "dense")
FORM_LABELS = {
    "cycle": "cycle, fused kernel",
    "cycle-torch": "cycle, PyTorch path",
    "dense": "dense, energy",
}
# The targets.
SPEED_UP_TARGET = 50.0  # cycle form fwd+bwd vs the reference loop's forward
THROUGHPUT_TARGETS = {"linear": 30.0, "cubic": 15.0, "sinc": 5.0}  # M samples/s, batch 16

# ru_maxrss of a new process starts at the peak of the process that spawned it (Linux
# carries it over at exec), so each case is started from this small, fresh interpreter.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


@dataclass(frozen=True)
class Settings:
    seconds: float  # audio length of the loss cases
    interp_samples: int  # signal length of the interpolation cases
    repeats: int  # timed runs after the warm-up, at most ...
    budget_s: float  # ... stopping early once this much time has been spent

    @classmethod
    def from_args(cls, args) -> Settings:
        if args.quick:
            return cls(seconds=1.0, interp_samples=INTERP_SAMPLE_RATE, repeats=1, budget_s=0.0)
        return cls(seconds=10.0, interp_samples=10 * INTERP_SAMPLE_RATE, repeats=30, budget_s=5.0)


@dataclass(frozen=True)
class LossCase:
    sample_rate: int
    batch: str  # a key of BATCH_F0S
    # "cycle" (fused kernel), "cycle-torch" (PyTorch path), "dense", "reference" or
    # "reference, envelope requires grad"
    form: str
    kernel: str = "-"

    @property
    def key(self) -> str:
        return f"loss/{self.sample_rate}/{self.batch}/{self.form}/{self.kernel}"

    @property
    def setting(self) -> str:
        return setting_label(self.sample_rate, self.batch)


def setting_label(sample_rate: int, batch: str) -> str:
    return f"{sample_rate / 1000:g} kHz, {BATCH_LABELS[batch]}"


@dataclass(frozen=True)
class InterpCase:
    kernel: str
    implementation: str  # "sample" or "naive"

    @property
    def key(self) -> str:
        return f"interp/{self.kernel}/{self.implementation}"


def loss_cases() -> list[LossCase]:
    cases = []
    for sample_rate in SAMPLE_RATES:
        for batch in BATCH_F0S:
            if batch == "single":
                cases.append(LossCase(sample_rate, batch, "reference"))
                cases.append(LossCase(sample_rate, batch, "reference, envelope requires grad"))
            for form in FORMS:
                cases.extend(LossCase(sample_rate, batch, form, kernel) for kernel in KERNELS)
    return cases


def interp_cases() -> list[InterpCase]:
    return [InterpCase(kernel, impl) for kernel in KERNELS for impl in ("sample", "naive")]


# --- inputs and the work measured ------------------------------------------------------


def harmonic_tones(f0s: list[float], sample_rate: int, n_samples: int) -> Tensor:
    """One row per f0: 4 harmonics with amplitudes 1/h and random phases (fixed seed)."""
    generator = torch.Generator().manual_seed(0)
    seconds = torch.arange(n_samples, dtype=torch.float64) / sample_rate
    tones = torch.empty(len(f0s), n_samples)  # filled row by row: few temporaries
    for row, f0 in zip(tones, f0s, strict=True):
        tone = torch.zeros(n_samples, dtype=torch.float64)
        for harmonic in range(1, 5):
            phase = 2 * math.pi * torch.rand((), generator=generator, dtype=torch.float64)
            tone += torch.sin(2 * math.pi * harmonic * f0 * seconds + phase) / harmonic
        row.copy_(tone)
    return tones


def loss_work(case: LossCase, settings: Settings) -> Callable[[], object]:
    """Build the inputs of a loss case; return the work to measure."""
    f0s = BATCH_F0S[case.batch]
    n_samples = round(settings.seconds * case.sample_rate)
    hop = case.sample_rate // 100  # one control point per 10 ms
    audio = harmonic_tones(f0s, case.sample_rate, n_samples)
    log2_period = torch.log2(case.sample_rate / torch.tensor(f0s))
    envelope = log2_period[:, None].repeat(1, n_samples // hop + 1).requires_grad_()
    read = dict(kernel=case.kernel, half_width=LOSS_SINC_HALF_WIDTH)
    if case.form in ("cycle", "cycle-torch"):
        backend = "native" if case.form == "cycle" else "torch"
        return lambda: fold_alignment_loss(envelope, audio, hop, backend=backend, **read).backward()
    if case.form == "dense":
        max_period = case.sample_rate / 50
        return lambda: dense_fold_loss(
            envelope, audio, hop, normalization="energy", max_period=max_period, **read
        ).backward()
    if case.form == "reference":
        return lambda: reference_fold_loss(envelope[0].detach(), audio[0], hop)
    return lambda: reference_fold_loss(envelope[0], audio[0], hop)


def naive_sample(x: Tensor, t: Tensor, kernel: str, *, half_width: int) -> Tensor:
    """``sample(x, t)`` (zero padding, 1-d) in plain autograd ops: every tap of every read
    is gathered into an ``(M, taps)`` tensor, and autograd keeps those intermediates."""
    radius = {"linear": 1, "cubic": 2, "sinc": half_width}[kernel]
    taps = torch.arange(1 - radius, radius + 1)
    floor = t.detach().floor()
    z = (t - floor).to(x.dtype)[:, None] - taps  # distance from each read to each tap
    values = torch.nn.functional.pad(x, (radius, radius))[floor.long()[:, None] + taps + radius]
    r = z.abs()
    if kernel == "linear":
        weights = 1 - r
    elif kernel == "cubic":  # Keys, a = -0.5
        inner, outer = (1.5 * r - 2.5) * r * r + 1, ((-0.5 * r + 2.5) * r - 4) * r + 2
        weights = torch.where(r < 1, inner, outer)
    else:  # Hann-windowed sinc
        weights = torch.sinc(z) * (0.5 + 0.5 * torch.cos(math.pi * z / half_width))
    return (values * weights).sum(-1)


def interp_inputs(n: int) -> tuple[Tensor, Tensor, Tensor]:
    """Signal x, positions t (every sample, at a fractional offset), upstream gradient."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, generator=generator).requires_grad_()
    # Fractions kept off the integers, where the linear kernel's slope jumps.
    fraction = 0.01 + 0.98 * torch.rand(n, generator=generator, dtype=torch.float64)
    t = (torch.arange(n, dtype=torch.float64) + fraction).requires_grad_()
    return x, t, torch.randn(n, generator=generator)


def interp_work(case: InterpCase, settings: Settings) -> Callable[[], object]:
    x, t, grad = interp_inputs(settings.interp_samples)
    read = sample if case.implementation == "sample" else naive_sample
    return lambda: read(x, t, case.kernel, half_width=INTERP_SINC_HALF_WIDTH).backward(grad)


def naive_sample_error(kernel: str, n: int) -> float:
    """Largest difference between ``sample`` and ``naive_sample`` on the interpolation
    input, over the values and both gradients, each relative to its largest magnitude
    (float32 rounding is relative); asserts it is at most 1e-4."""
    results = []
    for read in (sample, naive_sample):
        x, t, grad = interp_inputs(n)
        out = read(x, t, kernel, half_width=INTERP_SINC_HALF_WIDTH)
        out.backward(grad)
        results.append([out.detach(), x.grad, t.grad])
    error = max(
        float((a.double() - b.double()).abs().max() / b.abs().max())
        for a, b in zip(*results, strict=True)
    )
    assert error <= 1e-4, f"naive and custom {kernel} reads differ by {error:.2e}"
    return error


# --- measuring ---------------------------------------------------------------------------


def make_work(key: str, settings: Settings) -> Callable[[], object]:
    for case in loss_cases():
        if case.key == key:
            return loss_work(case, settings)
    for case in interp_cases():
        if case.key == key:
            return interp_work(case, settings)
    raise ValueError(f"unknown case {key!r}")


def best_time(work: Callable[[], object], settings: Settings) -> float:
    """Minimum wall time in seconds over the timed runs, after one warm-up run."""
    work()
    times: list[float] = []
    while len(times) < settings.repeats and (not times or sum(times) < settings.budget_s):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def peak_increase_mb(work: Callable[[], object]) -> float:
    before = max_rss_mb()
    work()
    return max_rss_mb() - before


def measure_in_subprocess(key: str, args) -> float:
    """Peak memory increase (MB) of one run of a case, in a fresh interpreter."""
    script = str(Path(__file__).resolve())
    command = [sys.executable, "-c", LAUNCHER, sys.executable, script, "--case", key]
    command += ["--threads", str(args.threads)] + (["--quick"] if args.quick else [])
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
    return float(done.stdout)


def peak_memory(keys: list[str], args) -> dict[str, float]:
    # Two at a time: each process's peak is its own, whatever runs beside it.
    with ThreadPoolExecutor(max_workers=2) as pool:
        peaks = pool.map(lambda key: measure_in_subprocess(key, args), keys)
        return dict(zip(keys, peaks, strict=True))


# --- the tables --------------------------------------------------------------------------


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = [header, ["---"] * len(header), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines)


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds < 0.1 else f"{seconds * 1e3:.0f}"


def describe(case: LossCase) -> tuple[str, str]:
    if case.form.startswith("reference"):
        return f"{case.form} (forward only)", "- (integer periods)"
    kernel = f"sinc, half-width {LOSS_SINC_HALF_WIDTH}" if case.kernel == "sinc" else case.kernel
    return f"{FORM_LABELS[case.form]} (fwd+bwd)", kernel


def loss_speed_section(settings: Settings) -> str:
    times = {case: best_time(loss_work(case, settings), settings) for case in loss_cases()}
    rows, throughputs, speed_ups = [], {}, {}
    for sample_rate in SAMPLE_RATES:
        reference = times[LossCase(sample_rate, "single", "reference")]
        single_throughput = settings.seconds * sample_rate / reference / 1e6
        for batch, f0s in BATCH_F0S.items():
            if len(f0s) > 1:  # the loop is batch-1 only: charged 16 x its batch-1 time
                rows.append(
                    [
                        setting_label(sample_rate, batch),
                        "reference (16 x batch-1 forward)",
                        "- (integer periods)",
                        milliseconds(16 * reference),
                        f"{single_throughput:.2f}",
                        "1.0x",
                    ]
                )
            for case, seconds in times.items():
                if (case.sample_rate, case.batch) != (sample_rate, batch):
                    continue
                throughputs[case] = len(f0s) * settings.seconds * sample_rate / seconds / 1e6
                speed_ups[case] = len(f0s) * reference / seconds
                rows.append(
                    [
                        case.setting,
                        *describe(case),
                        milliseconds(seconds),
                        f"{throughputs[case]:.2f}",
                        f"{speed_ups[case]:.1f}x",
                    ]
                )
    header = [
        "setting",
        "form",
        "kernel",
        "time (ms)",
        "throughput (M samples/s)",
        "speed-up vs reference forward",
    ]
    return "\n\n".join(
        [
            "## 1. Loss speed (forward + backward)",
            f"{settings.seconds:g} s of audio per row; envelope: one control point per 10 ms, "
            "float32, requires grad; the time is the minimum over up to "
            f"{settings.repeats} timed runs after a warm-up (fewer once {settings.budget_s:g} s "
            "have been spent). The reference loop runs at batch 1 only: for the batch-16 settings "
            "its time is 16 x its batch-1 forward time on the 220 Hz tone, measured in the same "
            'run. Throughput = batch x samples / time. Cycle form: `normalization="none"`, with '
            'the fused C kernel (`backend="native"`, the default on CPU) and with its PyTorch '
            'path (`backend="torch"`); dense form: `normalization="energy"`, '
            "`max_period=sample_rate / 50`.",
            table(header, rows),
            targets(throughputs, speed_ups),
        ]
    )


def targets(throughputs: dict[LossCase, float], speed_ups: dict[LossCase, float]) -> str:
    rows = []
    for form in ("cycle", "cycle-torch"):
        for kernel in KERNELS:
            speed_up = speed_ups[LossCase(16000, "single", form, kernel)]
            rows.append(
                [
                    f"{FORM_LABELS[form]}, {kernel}: fwd+bwd >= {SPEED_UP_TARGET:g}x faster "
                    "than the reference forward (batch 1, 16 kHz)",
                    f"{speed_up:.1f}x",
                    "**met**" if speed_up >= SPEED_UP_TARGET else "**not met**",
                ]
            )
    for form in FORMS:
        for kernel, target in THROUGHPUT_TARGETS.items():
            batch_16 = [
                value
                for case, value in throughputs.items()
                if case.form == form and case.kernel == kernel and case.batch != "single"
            ]
            met = sum(value >= target for value in batch_16)
            status = "**met**" if met == len(batch_16) else "**not met**"
            if 0 < met < len(batch_16):
                status += f" (met in {met} of {len(batch_16)} settings)"
            rows.append(
                [
                    f"{FORM_LABELS[form]}, {kernel}: batch-16 throughput >= {target:g} M samples/s",
                    f"{min(batch_16):.2f} to {max(batch_16):.2f} ({len(batch_16)} settings)",
                    status,
                ]
            )
    return "The issue's targets:\n\n" + table(["target", "measured", "status"], rows)


def loss_memory_section(args, settings: Settings) -> str:
    cases = loss_cases()
    peaks = peak_memory([case.key for case in cases], args)
    rows = []
    for case in cases:
        audio_mb = len(BATCH_F0S[case.batch]) * settings.seconds * case.sample_rate * 4 / 2**20
        peak = peaks[case.key]
        rows.append([case.setting, *describe(case), f"{peak:.1f}", f"{peak / audio_mb:.1f}"])
    header = ["setting", "form", "kernel", "peak memory increase (MB)", "x audio size"]
    return "\n\n".join(
        [
            "## 2. Loss peak memory (forward + backward)",
            "Each case in a fresh subprocess: `ru_maxrss` after one forward + backward minus "
            "`ru_maxrss` just before it (after imports, a warm-up run on 0.1 s of audio that "
            "absorbs one-time initialisation, and input creation). Audio size = batch x samples "
            "x 4 bytes; MB = 2^20 bytes throughout.",
            table(header, rows),
        ]
    )


def interp_section(args, settings: Settings) -> str:
    n = settings.interp_samples
    signal_mb = n * 4 / 2**20
    errors = {kernel: naive_sample_error(kernel, n) for kernel in KERNELS}  # equal work?
    cases = interp_cases()
    peaks = peak_memory([case.key for case in cases], args)
    times = {case: best_time(interp_work(case, settings), settings) for case in cases}
    rows = []
    for kernel in KERNELS:
        label = f"sinc, half-width {INTERP_SINC_HALF_WIDTH}" if kernel == "sinc" else kernel
        row = [label]
        for implementation in ("sample", "naive"):
            case = InterpCase(kernel, implementation)
            peak = peaks[case.key]
            row += [milliseconds(times[case]), f"{peak:.1f} ({peak / signal_mb:.1f}x)"]
        rows.append(row + [f"{errors[kernel]:.1e}"])
    header = [
        "kernel",
        "`sample` time (ms)",
        "`sample` peak MB (x signal)",
        "naive time (ms)",
        "naive peak MB (x signal)",
        "max relative difference",
    ]
    return "\n\n".join(
        [
            "## 3. Interpolation: `sample` vs naive autograd (forward + backward)",
            f"{n} samples of float32 noise ({n / INTERP_SAMPLE_RATE:g} s at 48 kHz, signal size "
            f"{signal_mb:.2f} MB), every sample read once at a fractional position "
            "(t = arange(N) + fraction, float64); x and t require grad. Naive: every tap of every "
            "read gathered into an (N, taps) tensor and weighted with plain torch ops, so autograd "
            "keeps the N x taps intermediates. Time as in section 1; peak memory as in section 2 "
            "(warm-up on 4800 samples). "
            "Max relative difference: between the two implementations' outputs and gradients "
            "with respect to x and t, each relative to its largest magnitude (asserted <= 1e-4).",
            table(header, rows),
        ]
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 s of audio, one timed run per case"
    )
    parser.add_argument("--write", action="store_true", help=f"also write {RESULTS_FILE}")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: one memory measurement
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    # The reference loop reads the envelope with float(); expected when it requires grad.
    warnings.filterwarnings("ignore", message="Converting a tensor with requires_grad=True")
    settings = Settings.from_args(args)
    if args.case:
        # A run on a tiny input first, so that one-time initialisation (code pages, thread
        # pools) is not counted.
        make_work(args.case, replace(settings, seconds=0.1, interp_samples=4800))()
        print(f"{peak_increase_mb(make_work(args.case, settings)):.2f}")
        return

    start = time.perf_counter()
    report: list[str] = []

    def emit(text: str) -> None:
        report.append(text)
        print(text + "\n", flush=True)

    emit("# Fold-alignment loss: speed and memory")
    emit(
        f"Generated by `PYTHONPATH=src python benchmarks/loss_speed.py"
        f"{' --quick' if args.quick else ''} --write`: torch {torch.__version__}, "
        f"{args.threads} threads, {os.cpu_count()} CPUs ({platform.machine()}), Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start "
        "(the machine may be shared: compare times within one run)."
    )
    emit(loss_speed_section(settings))
    emit(loss_memory_section(args, settings))
    emit(interp_section(args, settings))
    emit(f"Whole run: {time.perf_counter() - start:.0f} s.")
    if args.write:
        RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
        RESULTS_FILE.write_text("\n\n".join(report) + "\n")


if __name__ == "__main__":
    main()
