"""benchmarks/gradient_estimators.py: its quick run produces the tables; the exact
gradient it compares against agrees with float64 finite differences; its estimates reach
the cosine that theory gives on a quadratic."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "gradient_estimators.py"
SOURCES = ["autograd", "finite differences", "SPSA", "SPSA theory", "Gaussian smoothing"]


def load_benchmark():
    spec = importlib.util.spec_from_file_location("gradient_estimators_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[spec.name]
        raise
    return module


@pytest.fixture(scope="module")
def bench():
    return load_benchmark()


def test_quick_run_has_expected_rows(bench, capsys):
    results = bench.main(["--quick"])
    printed = capsys.readouterr().out

    budgets = results.settings.budgets
    assert budgets[0] == 1
    rows = {(row.d, row.source): row for row in results.cosine_rows}
    assert sorted(rows) == sorted((d, s) for d in bench.DIMENSIONS for s in SOURCES)
    for d in bench.DIMENSIONS:
        for source in SOURCES:
            assert f"| {d} | {source} |" in printed
        for source in ("SPSA", "Gaussian smoothing"):  # an estimate at every budget >= 2
            assert all(rows[(d, source)].mean(b) is not None for b in budgets[1:])
            assert rows[(d, source)].mean(1) is None

    labels = [fit.label for fit in results.fits]
    assert labels[0] == "autograd"
    assert "SPSA, n = 1" in labels
    assert any(label.startswith("Gaussian smoothing") for label in labels)
    for label in labels:
        assert f"| {label} |" in printed


def test_the_exact_gradient_matches_float64_finite_differences(bench):
    # The reference every estimator is scored against: autograd on the bench's own
    # problem, against central differences of the same loss computed in float64.
    d = bench.DIMENSIONS[0]
    problem = bench.make_problem(d, bench.make_audio().double())
    point = problem.point.double()
    exact = bench.autograd_gradient(problem.loss, point).grad
    step = 1e-6
    shifts = step * torch.eye(d, dtype=torch.float64)
    with torch.no_grad():
        numeric = (problem.loss(point + shifts) - problem.loss(point - shifts)) / (2 * step)
    torch.testing.assert_close(exact, numeric, rtol=1e-4, atol=1e-6 * float(numeric.abs().max()))
    assert float(exact.abs().max()) > 0


def quadratic_problem(bench, d: int):
    """L(x) = sum a_i x_i^2 / 2 with gradient a * x (analytic): a stand-in Problem."""
    generator = torch.Generator().manual_seed(7)
    curvature = torch.rand(d, generator=generator, dtype=torch.float64) + 0.5
    point = torch.randn(d, generator=generator, dtype=torch.float64)

    def loss(x):
        return 0.5 * (curvature * x.double().square()).sum(-1)

    empty = torch.zeros(0)
    return bench.Problem(d, 1.0, empty, empty, point, loss), curvature * point


@pytest.mark.parametrize(
    ("source", "step"), [("spsa_gradient", 1e-3), ("gaussian_smoothing_gradient", 1e-2)]
)
def test_estimates_reach_the_theoretical_cosine_on_a_quadratic(bench, source, step):
    # Averaging n directions of an unbiased estimator on a quadratic gives a cosine near
    # (1 + (d - 1) / n) ** -0.5 (the bench's "SPSA theory" row): about 0.18 at 2
    # evaluations and 0.95 at 1024 for d = 50. Each seed's curve must be near it.
    d, budgets = 50, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    problem, gradient = quadratic_problem(bench, d)
    estimator = getattr(bench, source)
    for seed in range(3):
        cosines, _ = bench.nested_estimates(estimator, problem, gradient, budgets, seed, step)
        assert sorted(cosines) == budgets[1:]
        theory = {b: (1 + (d - 1) / (b // 2)) ** -0.5 for b in budgets[1:]}
        assert cosines[1024] > 0.9, (seed, cosines)
        assert cosines[2] < 0.6, (seed, cosines)
        for b in (128, 256, 512, 1024):
            assert math.isclose(cosines[b], theory[b], abs_tol=0.12), (seed, b, cosines[b])
