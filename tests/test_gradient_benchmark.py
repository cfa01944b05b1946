"""Smoke test of benchmarks/gradient_estimators.py: its quick run produces the tables."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

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


def test_quick_run_has_expected_rows_and_exact_autograd(capsys):
    benchmark = load_benchmark()
    results = benchmark.main(["--quick"])
    printed = capsys.readouterr().out

    budgets = results.settings.budgets
    assert budgets[0] == 1
    rows = {(row.d, row.source): row for row in results.cosine_rows}
    assert sorted(rows) == sorted((d, s) for d in benchmark.DIMENSIONS for s in SOURCES)
    for d in benchmark.DIMENSIONS:
        autograd = rows[(d, "autograd")]
        for budget in budgets:
            assert autograd.mean(budget) == pytest.approx(1.0, abs=1e-9)
        assert f"| {d} | autograd | " + " | ".join("1.000" for _ in budgets) + " |" in printed
        for source in SOURCES:
            assert f"| {d} | {source} |" in printed
        for source in ("SPSA", "Gaussian smoothing"):
            values = [rows[(d, source)].mean(b) for b in budgets[1:]]
            assert all(v is not None and -1.0 <= v <= 1.0 for v in values)

    labels = [fit.label for fit in results.fits]
    assert labels[0] == "autograd"
    assert "SPSA, n = 1" in labels
    assert any(label.startswith("Gaussian smoothing") for label in labels)
    for label in labels:
        assert f"| {label} |" in printed
