"""Gradient estimators from loss evaluations only, to compare against exact autograd.

Every estimator here treats ``loss_fn`` as a black box: it evaluates the loss at
perturbed copies of ``x`` and combines the central differences
``(L(x + s v) - L(x - s v)) / (2 s)`` along directions ``v``. For a quadratic loss that
difference equals the directional derivative ``v . grad L(x)`` exactly, which is what
the tests rely on.

When to use which:

* ``autograd_gradient`` is the right tool whenever the loss is differentiable: it is
  exact and costs one forward and one backward pass whatever the size of ``x``.
* A perturbation estimator is the right tool only when the loss truly cannot be
  differentiated: a black-box or non-torch loss, or one that rounds its input to a grid
  (integer bins, quantization), whose autograd gradient is zero almost everywhere. With
  a perturbation larger than the grid step they estimate the gradient of the smoothed
  loss, which is the useful signal.
* ``finite_difference_gradient`` is deterministic but costs ``2 * x.numel()``
  evaluations.
* ``spsa_gradient`` costs 2 evaluations per sample whatever the dimension, but its
  variance grows with the dimension ``d``: one sample has per-coordinate variance
  ``|g|^2 - g_i^2``, so the cosine similarity with the true gradient ``g`` is about
  ``(1 + (d - 1) / n)^(-1/2)`` after ``n`` samples, and a fixed accuracy needs ``n``
  proportional to ``d``.
* ``gaussian_smoothing_gradient`` estimates the gradient of the Gaussian-smoothed loss
  ``E[L(x + sigma u)]`` (equal to the true gradient for a quadratic); one sample has
  per-coordinate variance ``|g|^2 + g_i^2``, slightly more than SPSA.

All estimators run under ``torch.no_grad``, follow the dtype and device of ``x``, never
modify ``x``, and accept a ``torch.Generator`` for reproducible sampling. With
``batched=True`` the perturbed points are stacked along a new leading dimension and
``loss_fn`` maps ``(k, *x.shape) -> (k,)``, one call per chunk, which is much faster
than one Python call per point.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from . import _checks

__all__ = [
    "GradientEstimate",
    "autograd_gradient",
    "cosine_similarity",
    "finite_difference_gradient",
    "gaussian_smoothing_gradient",
    "spsa_gradient",
]

LossFn = Callable[[Tensor], Tensor]

# Directions are drawn in blocks of this many, whatever the batching, so that batched
# and unbatched calls with the same generator seed see the same directions.
_DRAW_BLOCK = 32


@dataclass(frozen=True)
class GradientEstimate:
    """A gradient estimate and what it cost.

    Attributes:
        grad: The estimated gradient, same shape, dtype and device as ``x``.
        evaluations: Number of loss evaluations spent (points at which the loss was
            evaluated; a batched call on ``k`` points counts ``k``).
    """

    grad: Tensor
    evaluations: int


def spsa_gradient(
    loss_fn: LossFn,
    x: Tensor,
    n_samples: int = 1,
    epsilon: float = 1e-3,
    generator: torch.Generator | None = None,
    *,
    batched: bool = False,
    batch_size: int = 128,
) -> GradientEstimate:
    """Simultaneous-perturbation (SPSA) gradient estimate with Rademacher directions.

    For each sample a direction ``delta`` with independent entries in ``{-1, +1}`` is
    drawn and ``(L(x + epsilon delta) - L(x - epsilon delta)) / (2 epsilon) * delta`` is
    added (``1 / delta_i = delta_i`` for Rademacher entries); the result is the mean over
    samples. Unbiased for a quadratic loss, with a variance that grows with
    ``x.numel()`` (see the module docstring).

    Args:
        loss_fn: Scalar loss. Maps a tensor shaped like ``x`` to a 0-d tensor, or, with
            ``batched=True``, a ``(k, *x.shape)`` stack to a ``(k,)`` tensor.
        x: Point at which to estimate the gradient (floating point, not modified).
        n_samples: Number of random directions, a positive integer.
        epsilon: Perturbation size, > 0. For a loss that rounds its input to a grid,
            choose it larger than the grid step.
        generator: Optional generator for reproducible directions.
        batched: Evaluate the perturbed points in stacked chunks (see ``loss_fn``).
        batch_size: Directions per batched call (each call evaluates
            ``2 * batch_size`` points). Only used when ``batched`` is True.

    Returns:
        The estimate, with ``evaluations == 2 * n_samples``.

    Shape:
        - x: ``(*)``, any shape with at least one element.
        - grad: same as ``x``.

    Example:
        >>> import torch
        >>> x = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
        >>> g = torch.Generator().manual_seed(0)
        >>> est = spsa_gradient(lambda v: (v**2).sum(), x, n_samples=2000, generator=g)
        >>> est.evaluations
        4000
        >>> torch.allclose(est.grad, 2 * x, atol=0.5)
        True
    """
    _check_loss_and_x(loss_fn, x)
    _check_generator(generator)
    _check_batching(batched, batch_size)
    _checks.positive_int("n_samples", n_samples)
    _checks.positive_real("epsilon", epsilon)
    directions = _random_directions(x, n_samples, generator, _rademacher)
    total = _antithetic_sum(loss_fn, x, directions, epsilon, batched, batch_size)
    return GradientEstimate(total / n_samples, 2 * n_samples)


def gaussian_smoothing_gradient(
    loss_fn: LossFn,
    x: Tensor,
    n_samples: int = 1,
    sigma: float = 1e-2,
    generator: torch.Generator | None = None,
    *,
    batched: bool = False,
    batch_size: int = 128,
) -> GradientEstimate:
    """Antithetic Gaussian-smoothing gradient estimate.

    The mean over ``u ~ N(0, I)`` of ``(L(x + sigma u) - L(x - sigma u)) / (2 sigma) * u``:
    an unbiased estimate of the gradient of the smoothed loss ``E[L(x + sigma u)]``.

    Args:
        loss_fn: Scalar loss. Maps a tensor shaped like ``x`` to a 0-d tensor, or, with
            ``batched=True``, a ``(k, *x.shape)`` stack to a ``(k,)`` tensor.
        x: Point at which to estimate the gradient (floating point, not modified).
        n_samples: Number of Gaussian directions, a positive integer.
        sigma: Smoothing scale, > 0.
        generator: Optional generator for reproducible directions.
        batched: Evaluate the perturbed points in stacked chunks (see ``loss_fn``).
        batch_size: Directions per batched call (each call evaluates
            ``2 * batch_size`` points). Only used when ``batched`` is True.

    Returns:
        The estimate, with ``evaluations == 2 * n_samples``.

    Shape:
        - x: ``(*)``, any shape with at least one element.
        - grad: same as ``x``.

    Example:
        >>> import torch
        >>> x = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
        >>> g = torch.Generator().manual_seed(0)
        >>> est = gaussian_smoothing_gradient(
        ...     lambda v: (v**2).sum(), x, n_samples=2000, generator=g
        ... )
        >>> est.evaluations
        4000
        >>> torch.allclose(est.grad, 2 * x, atol=0.5)
        True
    """
    _check_loss_and_x(loss_fn, x)
    _check_generator(generator)
    _check_batching(batched, batch_size)
    _checks.positive_int("n_samples", n_samples)
    _checks.positive_real("sigma", sigma)
    directions = _random_directions(x, n_samples, generator, _gaussian)
    total = _antithetic_sum(loss_fn, x, directions, sigma, batched, batch_size)
    return GradientEstimate(total / n_samples, 2 * n_samples)


def finite_difference_gradient(
    loss_fn: LossFn,
    x: Tensor,
    epsilon: float = 1e-3,
    *,
    batched: bool = False,
    batch_size: int = 128,
) -> GradientEstimate:
    """Central finite differences, one coordinate at a time.

    Coordinate ``i`` of the result is ``(L(x + epsilon e_i) - L(x - epsilon e_i)) /
    (2 epsilon)``. Deterministic, exact (up to rounding) for a quadratic loss, with an
    ``O(epsilon^2)`` error otherwise.

    Args:
        loss_fn: Scalar loss. Maps a tensor shaped like ``x`` to a 0-d tensor, or, with
            ``batched=True``, a ``(k, *x.shape)`` stack to a ``(k,)`` tensor.
        x: Point at which to estimate the gradient (floating point, not modified).
        epsilon: Step size, > 0.
        batched: Evaluate the perturbed points in stacked chunks (see ``loss_fn``).
        batch_size: Coordinates per batched call (each call evaluates
            ``2 * batch_size`` points). Only used when ``batched`` is True.

    Returns:
        The estimate, with ``evaluations == 2 * x.numel()``.

    Shape:
        - x: ``(*)``, any shape with at least one element.
        - grad: same as ``x``.

    Example:
        >>> import torch
        >>> x = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
        >>> est = finite_difference_gradient(lambda v: (v**2).sum(), x)
        >>> est.evaluations
        8
        >>> torch.allclose(est.grad, 2 * x)
        True
    """
    _check_loss_and_x(loss_fn, x)
    _check_batching(batched, batch_size)
    _checks.positive_real("epsilon", epsilon)
    total = _antithetic_sum(loss_fn, x, _basis_directions(x), epsilon, batched, batch_size)
    return GradientEstimate(total, 2 * x.numel())


def autograd_gradient(loss_fn: LossFn, x: Tensor) -> GradientEstimate:
    """Exact gradient by ``torch.autograd.grad``, the reference for the estimators.

    ``x`` is detached and copied first, so neither ``x`` nor its graph is touched.

    Args:
        loss_fn: Scalar loss, maps a tensor shaped like ``x`` to a 0-d tensor built with
            differentiable torch operations.
        x: Point at which to evaluate the gradient (floating point, not modified).

    Returns:
        The gradient, with ``evaluations == 1`` (one forward and one backward pass).
        Where the loss does not depend on ``x`` through the graph the gradient is zero.

    Raises:
        ValueError: If the loss has no autograd graph at all (e.g. it went through
            ``.item()`` or numpy); use a perturbation estimator for such a loss.

    Shape:
        - x: ``(*)``, any shape with at least one element.
        - grad: same as ``x``.

    Example:
        >>> import torch
        >>> x = torch.tensor([1.0, -2.0, 0.5])
        >>> autograd_gradient(lambda v: (v**2).sum(), x).grad
        tensor([ 2., -4.,  1.])
    """
    _check_loss_and_x(loss_fn, x)
    leaf = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        loss = _scalar(loss_fn(leaf))
    if not loss.requires_grad:
        raise ValueError(
            "loss_fn output does not require grad, so autograd cannot differentiate it; "
            "use a perturbation estimator such as spsa_gradient"
        )
    (grad,) = torch.autograd.grad(loss, leaf, allow_unused=True)
    if grad is None:
        grad = torch.zeros_like(x)
    return GradientEstimate(grad.detach(), 1)


def cosine_similarity(a: Tensor, b: Tensor) -> float:
    """Cosine similarity of two tensors, flattened and computed in float64.

    Args:
        a: Any tensor.
        b: A tensor with as many elements as ``a`` (any shape, any device).

    Returns:
        ``a . b / (|a| |b|)`` as a Python float, or ``0.0`` when either norm is zero (so
        an all-zero autograd gradient scores 0 in a comparison table).

    Example:
        >>> import torch
        >>> cosine_similarity(torch.tensor([1.0, 0.0]), torch.tensor([[2.0], [2.0]]))
        0.7071067811865475
    """
    for name, value in (("a", a), ("b", b)):
        if not isinstance(value, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if a.numel() != b.numel():
        raise ValueError(
            f"a and b must have the same number of elements, got {a.numel()} and {b.numel()}"
        )
    a64 = a.detach().reshape(-1).to(dtype=torch.float64)
    b64 = b.detach().reshape(-1).to(dtype=torch.float64, device=a64.device)
    norms = torch.linalg.vector_norm(a64) * torch.linalg.vector_norm(b64)
    if norms == 0:
        return 0.0
    return float(torch.dot(a64, b64) / norms)


@torch.no_grad()
def _antithetic_sum(
    loss_fn: LossFn,
    x: Tensor,
    directions: Iterable[Tensor],
    step: float,
    batched: bool,
    batch_size: int,
) -> Tensor:
    """Sum over directions ``v`` of ``(L(x + step v) - L(x - step v)) / (2 step) * v``."""
    total = torch.zeros_like(x)
    chunks = _rechunk(directions, batch_size) if batched else directions
    for chunk in chunks:
        k = chunk.shape[0]
        if batched:
            points = torch.cat([x + step * chunk, x - step * chunk])
            values = torch.as_tensor(loss_fn(points))
            if values.shape != (2 * k,):
                raise ValueError(
                    f"batched loss_fn must map (k, *x.shape) to shape (k,); given {2 * k} "
                    f"points it returned shape {tuple(values.shape)}"
                )
            plus, minus = values[:k], values[k:]
        else:
            plus = torch.stack([_scalar(loss_fn(x + step * v)) for v in chunk])
            minus = torch.stack([_scalar(loss_fn(x - step * v)) for v in chunk])
        # Subtract in the loss's own dtype (it may be wider than x's) before casting.
        diffs = ((plus - minus) / (2 * step)).to(dtype=x.dtype, device=x.device)
        total += torch.tensordot(diffs, chunk, dims=1)
    return total


def _rechunk(blocks: Iterable[Tensor], size: int) -> Iterator[Tensor]:
    """Regroup a stream of ``(k_i, *shape)`` blocks into blocks of ``size`` rows."""
    pending: list[Tensor] = []
    count = 0
    for block in blocks:
        pending.append(block)
        count += block.shape[0]
        while count >= size:
            merged = torch.cat(pending)
            yield merged[:size]
            pending, count = [merged[size:]], count - size
    if count:
        yield torch.cat(pending)


def _random_directions(
    x: Tensor,
    n_samples: int,
    generator: torch.Generator | None,
    sampler: Callable[[tuple[int, ...], Tensor, torch.Generator | None], Tensor],
) -> Iterator[Tensor]:
    for start in range(0, n_samples, _DRAW_BLOCK):
        k = min(_DRAW_BLOCK, n_samples - start)
        yield sampler((k, *x.shape), x, generator)


def _basis_directions(x: Tensor) -> Iterator[Tensor]:
    d = x.numel()
    for start in range(0, d, _DRAW_BLOCK):
        k = min(_DRAW_BLOCK, d - start)
        block = x.new_zeros(k, d)
        block[torch.arange(k), torch.arange(start, start + k)] = 1
        yield block.reshape(k, *x.shape)


def _rademacher(shape: tuple[int, ...], x: Tensor, generator: torch.Generator | None) -> Tensor:
    # Draw on the generator's device (a CPU generator may drive a CUDA x), then move.
    device = x.device if generator is None else generator.device
    bits = torch.randint(0, 2, shape, generator=generator, device=device)
    return (2 * bits - 1).to(dtype=x.dtype, device=x.device)


def _gaussian(shape: tuple[int, ...], x: Tensor, generator: torch.Generator | None) -> Tensor:
    device = x.device if generator is None else generator.device
    u = torch.randn(shape, generator=generator, device=device, dtype=x.dtype)
    return u.to(x.device)


def _scalar(value: object) -> Tensor:
    loss = torch.as_tensor(value)
    if loss.numel() != 1:
        raise ValueError(
            f"loss_fn must return a scalar (0-d) tensor, got shape {tuple(loss.shape)}"
        )
    return loss.reshape(())


def _check_loss_and_x(loss_fn: object, x: object) -> None:
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() == 0:
        raise ValueError(f"x must have at least one element, got shape {tuple(x.shape)}")


def _check_batching(batched: object, batch_size: object) -> None:
    _checks.flag("batched", batched)
    _checks.positive_int("batch_size", batch_size)


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )
