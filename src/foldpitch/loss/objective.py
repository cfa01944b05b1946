"""The self-supervised objective that trains the network: fold loss, no labels."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .. import _checks
from ..interp import KERNELS
from ._common import _check_audio
from .candidates import candidate_fold_costs
from .dense import dense_fold_loss

DIP_BINS = 2
"""Bins (about 42 cents with the shipped network's 256 bins) on each side of a frame's
cheapest bin at which ``min_dip_rise`` measures how fast its cost rises."""
MAX_SHARPENING = 20.0
"""The most ``min_dip_rise`` lowers a frame's temperature, as a factor."""


class SelfSupervisedFoldLoss(torch.nn.Module):
    """The objective that trains :class:`foldpitch.model.PitchNet`: fold loss, no labels.

    Per frame, with ``p`` the softmax of the bin logits, ``c`` the
    :func:`candidate_fold_costs` of the frame's bins (the fold loss at every candidate
    period, built so that its minimum is the true period) and ``v`` the periodicity:

    * **soft-argmin** ``-sum_k q_k log p_k`` with ``q = softmax(-c / temperature)``: the
      predicted distribution is pulled towards the periods with the lowest fold loss.
      Every bin gets a gradient, so the network moves to the global minimum instead of
      the basin nearest its guess. (Minimising the expected loss ``sum_k p_k c_k``
      alone has the same minimum but learns far more slowly: its gradient
      ``p_k (c_k - E)`` vanishes wherever ``p`` is small.)
      With ``min_dip_rise`` set, a clearly periodic frame (cheapest cost below
      ``periodicity_threshold``) whose cost rises by less than ``min_dip_rise`` within
      :data:`DIP_BINS` bins on either side of its cheapest bin gets a temperature
      lowered in proportion (at most 20 times): a pure tone's dip is so broad
      (``1 - cos``: 0.01 at 50 cents) that the plain target spreads over +-60-85
      cents and the network's peak wanders inside it; a harmonic-rich tone's dip rises
      by 0.1 or more below 300 Hz and keeps the plain temperature (higher, with fewer
      harmonics below Nyquist, by about 0.04: sharpened a little).
    * **periodicity** ``v c* + (1 - v) periodicity_threshold`` with ``c*`` the fold loss
      of the predicted (most probable) bin, held constant: a frame called periodic pays
      its fold loss, one called aperiodic pays the threshold. The minimum is ``v = 1``
      where the fold loss is below the threshold and ``v = 0`` above it, so the voicing
      output is trained by the fold loss alone and cannot call everything unvoiced for
      free. (The expected loss ``E = sum_k p_k c_k`` in place of ``c*`` called clean
      high tones aperiodic: their dip is narrower than the predicted distribution, so
      ``E`` was 0.5 where ``c*`` was 0.) Its minimum is a hard 0 or 1, so the trained
      periodicity is nearly binary. With ``periodicity_temperature`` set, the term is
      instead the binary cross-entropy against the graded target
      ``sigmoid((periodicity_threshold - c*) / periodicity_temperature)``: the
      periodicity then falls gradually as the fold loss nears and passes the
      threshold, and a decision threshold other than 0.5 can trade voicing recall for
      false alarms.
    * **refinement** ``refine_weight * dense_fold_loss`` of the predicted envelope (most
      probable bin plus its offset; ``"energy"`` normalisation, centred, weighted by the
      periodicity): the continuous fold loss that places the period within its bin.

    Args:
        hop_length: samples between frames.
        temperature: of the soft-argmin target, in fold-loss units.
        periodicity_threshold: fold loss (cumulative-mean normalised, about 0 periodic,
            1 noise) above which a frame should be called aperiodic.
        periodicity_temperature: ``None`` (default) for the threshold term above, or a
            positive width in fold-loss units of the graded periodicity target.
        refine_weight: weight of the dense refinement term (0 switches it off).
        periodicity_weight: weight of the periodicity term (0: the voicing output gets
            no gradient, as when adapting a network whose voicing should stay its own).
        kernel: interpolation kernel of the refinement term.
        min_dip_rise: ``None`` (default) for one temperature everywhere, or the rise of
            the cost (fold-loss units) within :data:`DIP_BINS` bins of the cheapest bin
            below which a periodic frame's target is sharpened (see above).
        submultiple_margin, upsample, time_symmetric, chirps: see
            :func:`candidate_fold_costs` (``chirps``: the period slopes, in cents per
            frame, at which the table also reads each frame, so that it follows gliding
            pitch).

    Returns (``forward``):
        A dict of scalars: ``"loss"`` (the total), ``"soft_argmin"``, ``"periodicity"``,
        ``"expected"`` (``E`` averaged over frames), ``"refine"`` and
        ``"voiced_fraction"`` (for logging).
    """

    def __init__(
        self,
        hop_length: int = 160,
        temperature: float = 0.05,
        periodicity_threshold: float = 0.7,
        periodicity_temperature: float | None = None,
        refine_weight: float = 1.0,
        periodicity_weight: float = 1.0,
        kernel: str = "cubic",
        submultiple_margin: float = 0.3,
        upsample: int = 4,
        time_symmetric: bool = True,
        chirps: Sequence[float] = (),
        min_dip_rise: float | None = None,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not periodicity_threshold > 0:
            raise ValueError(f"periodicity_threshold must be > 0, got {periodicity_threshold}")
        if periodicity_temperature is not None and not periodicity_temperature > 0:
            raise ValueError(
                f"periodicity_temperature must be None or > 0, got {periodicity_temperature}"
            )
        if min_dip_rise is not None and not min_dip_rise > 0:
            raise ValueError(f"min_dip_rise must be None or > 0, got {min_dip_rise}")
        if not periodicity_weight >= 0:
            raise ValueError(f"periodicity_weight must be >= 0, got {periodicity_weight}")
        _checks.one_of("kernel", kernel, KERNELS)
        self.hop_length = hop_length
        self.temperature = temperature
        self.periodicity_threshold = periodicity_threshold
        self.periodicity_temperature = periodicity_temperature
        self.refine_weight = refine_weight
        self.periodicity_weight = periodicity_weight
        self.kernel = kernel
        self.submultiple_margin = submultiple_margin
        self.upsample = upsample
        self.time_symmetric = time_symmetric
        self.chirps = [float(chirp) for chirp in chirps]
        self.min_dip_rise = min_dip_rise

    def forward(
        self,
        audio: Tensor,
        logits: Tensor,
        offsets: Tensor,
        periodicity_logits: Tensor,
        log2_period_edges: Tensor,
    ) -> dict[str, Tensor]:
        """Args: ``audio (batch, time)``; ``logits`` and ``offsets`` ``(batch, n_frames,
        K)``; ``periodicity_logits (batch, n_frames)``; bin edges ``(K + 1,)``, log2 of
        the period in samples. Audio must be finite (``ValueError`` otherwise); float16
        and bfloat16 audio is read in float32."""
        audio = _check_audio(audio)
        costs = candidate_fold_costs(
            audio,
            log2_period_edges,
            self.hop_length,
            logits.shape[-2],
            submultiple_margin=self.submultiple_margin,
            upsample=self.upsample,
            time_symmetric=self.time_symmetric,
            chirps=self.chirps,
        ).to(logits.dtype)
        log_p = torch.log_softmax(logits, -1)
        target = self.soft_argmin_target(costs)
        expected = (log_p.exp() * costs).sum(-1)  # (batch, n_frames)
        best = logits.argmax(-1, keepdim=True)
        predicted_cost = costs.gather(-1, best)[..., 0].detach()
        periodicity = torch.sigmoid(periodicity_logits)
        terms = {
            "soft_argmin": -(target * log_p).sum(-1).mean(),
            "periodicity": self._periodicity_term(periodicity_logits, periodicity, predicted_cost),
            "expected": expected.detach().mean(),
        }
        total = terms["soft_argmin"] + self.periodicity_weight * terms["periodicity"]
        if self.refine_weight > 0:
            width = log2_period_edges[1] - log2_period_edges[0]
            envelope = log2_period_edges[best[..., 0]] + offsets.gather(-1, best)[..., 0] * width
            terms["refine"] = dense_fold_loss(
                envelope,
                audio,
                self.hop_length,
                kernel=self.kernel,
                normalization="energy",
                weights=periodicity.detach(),
                max_period=float(torch.exp2(log2_period_edges[-1])),
            )
            total = total + self.refine_weight * terms["refine"]
        terms["voiced_fraction"] = (periodicity.detach() > 0.5).float().mean()
        terms["loss"] = total
        return terms

    def soft_argmin_target(self, costs: Tensor) -> Tensor:
        """``softmax(-costs / temperature)`` over the bins ``(..., n_frames, K)``, each
        frame's temperature lowered where its periodic dip is broad (``min_dip_rise``)."""
        if self.min_dip_rise is None:
            return torch.softmax(-costs / self.temperature, -1)
        with torch.no_grad():
            n_bins = costs.shape[-1]
            best = costs.argmin(-1, keepdim=True)
            floor = costs.gather(-1, best)
            sides = []
            for index in (best - DIP_BINS, best + DIP_BINS):
                inside = (index >= 0) & (index < n_bins)
                side = costs.gather(-1, index.clamp(0, n_bins - 1))
                sides.append(torch.where(inside, side, torch.full_like(side, math.inf)))
            rise = torch.minimum(*sides) - floor  # the side that rises less
            scale = (rise / self.min_dip_rise).clamp(1 / MAX_SHARPENING, 1.0)
            scale = torch.where(floor < self.periodicity_threshold, scale, torch.ones_like(scale))
        return torch.softmax(-costs / (self.temperature * scale), -1)

    def _periodicity_term(
        self, periodicity_logits: Tensor, periodicity: Tensor, predicted_cost: Tensor
    ) -> Tensor:
        if self.periodicity_temperature is None:
            threshold = self.periodicity_threshold
            return (periodicity * predicted_cost + (1 - periodicity) * threshold).mean()
        graded_target = torch.sigmoid(
            (self.periodicity_threshold - predicted_cost) / self.periodicity_temperature
        )
        # The cross-entropy's gradient, sigmoid(logit) - target, does not vanish on a
        # saturated logit, so a network trained with the hard term can be fine-tuned.
        return torch.nn.functional.binary_cross_entropy_with_logits(
            periodicity_logits, graded_target
        )
