"""foldpitch.metrics against hand-made cases and against mir_eval."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from foldpitch.metrics import pitch_metrics


def test_hand_made_case():
    true_f0 = torch.tensor([100.0, 100.0, 100.0, 100.0, 0.0, 0.0])
    true_voiced = true_f0 > 0
    # exact, +40 cents, +60 cents, an octave up; then two unvoiced frames
    f0 = torch.tensor([100.0, 100 * 2 ** (40 / 1200), 100 * 2 ** (60 / 1200), 200.0, 80.0, 90.0])
    voiced = torch.tensor([True, True, False, True, True, False])
    m = pitch_metrics(f0, voiced, true_f0, true_voiced)
    assert m["raw_pitch_accuracy"] == pytest.approx(0.5)
    assert m["octave_error_rate"] == pytest.approx(0.25)
    assert m["voicing_recall"] == pytest.approx(0.75)
    assert m["voicing_false_alarm"] == pytest.approx(0.5)
    assert m["mean_abs_cents"] == pytest.approx(20.0, abs=1e-3)  # float32 f0
    assert m["n_voiced"] == 4


def test_agrees_with_mir_eval():
    melody = pytest.importorskip("mir_eval.melody")
    rng = np.random.default_rng(0)
    n = 500
    true_f0 = np.where(rng.random(n) < 0.7, rng.uniform(60, 900, n), 0.0)
    f0 = true_f0 * 2 ** (rng.normal(0, 60, n) / 1200)
    f0[true_f0 == 0] = rng.uniform(60, 900, (true_f0 == 0).sum())
    voiced = rng.random(n) < 0.75
    ref_v, ref_c, est_v, est_c = melody.to_cent_voicing(
        np.arange(n) * 0.01, true_f0, np.arange(n) * 0.01, np.where(voiced, f0, -f0)
    )
    m = pitch_metrics(
        torch.tensor(f0), torch.tensor(voiced), torch.tensor(true_f0), torch.tensor(true_f0 > 0)
    )
    assert m["raw_pitch_accuracy"] == pytest.approx(
        melody.raw_pitch_accuracy(ref_v, ref_c, est_v, est_c), abs=1e-9
    )
    recall, false_alarm = melody.voicing_measures(ref_v, est_v)
    assert m["voicing_recall"] == pytest.approx(recall, abs=1e-9)
    assert m["voicing_false_alarm"] == pytest.approx(false_alarm, abs=1e-9)


def test_empty_reference_gives_nan_not_an_error():
    m = pitch_metrics(
        torch.ones(3),
        torch.ones(3, dtype=torch.bool),
        torch.zeros(3),
        torch.zeros(3, dtype=torch.bool),
    )
    assert np.isnan(m["raw_pitch_accuracy"]) and m["voicing_false_alarm"] == 1.0


def test_shapes_must_agree():
    with pytest.raises(ValueError, match="one shape"):
        pitch_metrics(torch.ones(3), torch.ones(2, dtype=torch.bool), torch.ones(3), torch.ones(3))
