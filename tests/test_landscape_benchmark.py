"""benchmarks/loss_landscape.py: its smoke run works and measures the expected physics."""

import importlib.util
import math
import sys
from pathlib import Path

BENCHMARK = Path(__file__).resolve().parent.parent / "benchmarks" / "loss_landscape.py"


def load_benchmark(monkeypatch):
    spec = importlib.util.spec_from_file_location("loss_landscape_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the file executes.
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_quick_run_structure_and_basin_width(monkeypatch):
    bench = load_benchmark(monkeypatch)
    data = bench.main(["--quick"])

    for key in ("landscape", "short_periods", "noisy", "zoom_rows", "basin", "step_size", "recipe"):
        assert data[key], key
    kernels = data["settings"]["kernels"]
    n_norms = len(bench.NORMALIZATIONS)
    assert len(data["landscape"]) == len(bench.HARMONICS) * len(kernels) * n_norms
    assert len(data["basin"]) == 2 * len(bench.HARMONICS) * len(kernels) * 2
    for row in data["basin"]:
        assert row["low"] <= bench.T <= row["high"]
        assert row["flow_low"] <= bench.T <= row["flow_high"]
        assert math.isfinite(row["curvature"]) and row["curvature"] > 0
    for row in data["recipe"]:
        assert set(row["errors"]) == {
            "full band",
            "after the low-pass stage",
            "low-pass, then full band",
        }

    # Energy normalisation, full band: the pure tone's basin is wider than the
    # 20-harmonic tone's, for every kernel and optimiser (bandwidth sets the basin).
    def width(h, kernel, optimizer):
        (row,) = [
            r
            for r in data["basin"]
            if (r["band"], r["harmonics"], r["kernel"], r["optimizer"])
            == ("full", h, kernel, optimizer)
        ]
        return math.log2(row["high"] / row["low"])

    for kernel in kernels:
        for optimizer in ("gd", "adam"):
            assert width(1, kernel, optimizer) > width(20, kernel, optimizer)

    # The submultiple normalisation puts the global minimum of the clean tones at T.
    for row in data["landscape"]:
        if row["normalization"] == "dense submultiple":
            assert row["argmin_period"] == bench.T
