"""Tests for foldpitch.gradients: perturbation estimators against closed-form gradients.

The reference gradients are written out by hand (``A x + b`` for a quadratic, ``cos`` for
``sin``), never taken from the estimators or from autograd, and the statistical
tolerances come from the estimators' closed-form variances on a quadratic.
"""

from __future__ import annotations

import math

import pytest
import torch

from foldpitch.gradients import (
    GradientEstimate,
    autograd_gradient,
    cosine_similarity,
    finite_difference_gradient,
    gaussian_smoothing_gradient,
    spsa_gradient,
)

F64 = torch.float64


class Quadratic:
    """L(x) = 1/2 x^T A x + b^T x on flattened x, with gradient A x + b.

    ``b`` is chosen so that the gradient at ``x`` is ``target``, which lets a test pick
    gradient entries large enough for a relative-error check to be meaningful.
    """

    def __init__(self, x: torch.Tensor, target: torch.Tensor, seed: int = 0) -> None:
        d = x.numel()
        g = torch.Generator().manual_seed(seed)
        m = torch.randn(d, d, generator=g, dtype=F64)
        self.a = m @ m.T / d + torch.eye(d, dtype=F64)
        self.b = target.reshape(-1) - self.a @ x.reshape(-1)

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        flat = v.reshape(-1)
        return 0.5 * flat @ self.a @ flat + self.b @ flat

    def batched(self, v: torch.Tensor) -> torch.Tensor:
        flat = v.reshape(v.shape[0], -1)
        return 0.5 * torch.einsum("ki,ij,kj->k", flat, self.a, flat) + flat @ self.b

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return (self.a @ x.reshape(-1) + self.b).reshape(x.shape)


class CountingLoss:
    """Wraps a loss and counts the points it is evaluated at (k per batched call)."""

    def __init__(self, fn, batched: bool = False) -> None:
        self.fn = fn
        self.batched = batched
        self.points = 0

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        self.points += v.shape[0] if self.batched else 1
        return self.fn(v)


def stack_loss(fn):
    """Batched version of a loss that evaluates ``fn`` row by row, so values match exactly."""
    return lambda v: torch.stack([fn(row) for row in v])


def make_quadratic(d: int, seed: int = 0) -> tuple[Quadratic, torch.Tensor]:
    g = torch.Generator().manual_seed(seed + 1)
    x = torch.randn(d, generator=g, dtype=F64)
    target = torch.randn(d, generator=g, dtype=F64)
    return Quadratic(x, target, seed), x


GRAD_TARGET = torch.tensor([2.0, -1.5, 3.0, -2.5, 1.8], dtype=F64)
X5 = torch.tensor([0.3, -1.2, 0.7, 2.0, -0.4], dtype=F64)


# For one sample on a quadratic, the central difference along v is exactly v . g, so
# the estimate is v (v . g). Its per-coordinate variance is |g|^2 - g_i^2 for
# Rademacher v (E[v_i^2 v_j^2] = 1, v_i^2 = 1) and |g|^2 + g_i^2 for Gaussian v
# (E[u_i^4] = 3).
def spsa_variance(g: torch.Tensor) -> torch.Tensor:
    return g.pow(2).sum() - g.pow(2)


def gaussian_variance(g: torch.Tensor) -> torch.Tensor:
    return g.pow(2).sum() + g.pow(2)


ESTIMATORS = [
    pytest.param(spsa_gradient, spsa_variance, "epsilon", id="spsa"),
    pytest.param(gaussian_smoothing_gradient, gaussian_variance, "sigma", id="gaussian"),
]


@pytest.mark.parametrize(("estimator", "variance", "step_name"), ESTIMATORS)
def test_random_estimators_are_unbiased_on_a_quadratic(estimator, variance, step_name):
    loss = Quadratic(X5, GRAD_TARGET)
    exact = loss.a @ X5 + loss.b
    n = 40_000
    tolerance = 4 * torch.sqrt(variance(exact) / n)
    # The tolerance is tight enough to catch a 10% scale error on every coordinate.
    assert (tolerance < 0.1 * exact.abs()).all()

    est = estimator(
        loss.batched,
        X5,
        n_samples=n,
        generator=torch.Generator().manual_seed(1234),
        batched=True,
        batch_size=4096,
        **{step_name: 0.1},
    )
    assert ((est.grad - exact).abs() <= tolerance).all(), (est.grad, exact, tolerance)


@pytest.mark.parametrize(("estimator", "variance", "step_name"), ESTIMATORS)
def test_single_sample_variance_matches_the_closed_form(estimator, variance, step_name):
    # Checks the formula that sets the tolerance of the unbiasedness test.
    loss = Quadratic(X5, GRAD_TARGET)
    generator = torch.Generator().manual_seed(99)
    samples = torch.stack(
        [
            estimator(loss, X5, n_samples=1, generator=generator, **{step_name: 0.1}).grad
            for _ in range(3000)
        ]
    )
    expected = variance(loss.a @ X5 + loss.b)
    torch.testing.assert_close(samples.var(dim=0), expected, rtol=0.15, atol=0.0)


def test_spsa_single_sample_is_a_rank_one_projection():
    # On a quadratic one SPSA sample is exactly delta * (delta . g), delta in {-1, 1}^d.
    loss = Quadratic(X5, GRAD_TARGET)
    est = spsa_gradient(loss, X5, epsilon=0.5, generator=torch.Generator().manual_seed(3))
    # delta is known up to a global sign, which the projection does not see.
    delta = torch.sign(est.grad)
    torch.testing.assert_close(est.grad, delta * (delta @ GRAD_TARGET), rtol=1e-12, atol=1e-12)


def test_finite_differences_are_exact_on_a_quadratic():
    x = torch.linspace(-1.0, 2.0, 12, dtype=F64).reshape(3, 4)
    loss = Quadratic(x, torch.linspace(3.0, -3.0, 12, dtype=F64))
    est = finite_difference_gradient(loss, x, epsilon=1e-3)
    assert est.grad.shape == x.shape
    assert (est.grad - loss.grad(x)).abs().max() < 1e-8


def test_finite_differences_have_second_order_error():
    # sin''' = -cos, so the central-difference error is at most epsilon^2 / 6.
    x = torch.linspace(-3.0, 3.0, 7, dtype=F64)
    epsilon = 1e-2
    est = finite_difference_gradient(lambda v: torch.sin(v).sum(), x, epsilon=epsilon)
    error = (est.grad - torch.cos(x)).abs().max()
    assert 0 < error <= epsilon**2 / 6


def test_spsa_cosine_grows_with_n_samples():
    loss, x = make_quadratic(50)
    exact = loss.grad(x)
    generator = torch.Generator().manual_seed(7)

    def mean_cosine(n: int) -> float:
        cosines = [
            cosine_similarity(
                spsa_gradient(
                    loss.batched, x, n, generator=generator, batched=True, batch_size=1000
                ).grad,
                exact,
            )
            for _ in range(20)
        ]
        return sum(cosines) / len(cosines)

    few, many = mean_cosine(10), mean_cosine(1000)
    # Theory: cosine ~ (1 + (d - 1) / n)^(-1/2), about 0.41 at n=10 and 0.976 at n=1000.
    assert few < 0.6
    assert many > 0.95
    assert many > few


@pytest.mark.parametrize("batched", [False, True])
def test_evaluation_counts_match_the_loss_calls(batched):
    loss, x = make_quadratic(6)
    x = x.reshape(2, 3)
    fn = loss.batched if batched else loss
    options = {"batched": batched, "batch_size": 5}
    generator = torch.Generator().manual_seed(0)
    cases = [
        (lambda f: spsa_gradient(f, x, n_samples=13, generator=generator, **options), 26),
        (
            lambda f: gaussian_smoothing_gradient(
                f, x, n_samples=13, generator=generator, **options
            ),
            26,
        ),
        (lambda f: finite_difference_gradient(f, x, **options), 12),
    ]
    for run, expected in cases:
        counter = CountingLoss(fn, batched=batched)
        est = run(counter)
        assert isinstance(est, GradientEstimate)
        assert est.evaluations == counter.points == expected


def test_autograd_gradient_is_exact_and_counts_one_evaluation():
    loss, x = make_quadratic(8)
    counter = CountingLoss(loss)
    est = autograd_gradient(counter, x)
    assert est.evaluations == counter.points == 1
    torch.testing.assert_close(est.grad, loss.grad(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("batch_size", [1, 7, 32, 50, 128])
@pytest.mark.parametrize(
    ("estimator", "step"),
    [
        pytest.param(spsa_gradient, {"epsilon": 0.05}, id="spsa"),
        pytest.param(gaussian_smoothing_gradient, {"sigma": 0.05}, id="gaussian"),
    ],
)
def test_batched_equals_unbatched_for_the_same_seed(estimator, step, batch_size):
    x = torch.linspace(-1.0, 1.0, 12, dtype=F64).reshape(3, 4)

    def loss(v):
        return (torch.sin(3 * v) * v).sum() + v.pow(4).sum()

    def run(fn, **options):
        generator = torch.Generator().manual_seed(5)
        return estimator(fn, x, n_samples=50, generator=generator, **step, **options)

    unbatched = run(loss)
    batched = run(stack_loss(loss), batched=True, batch_size=batch_size)
    torch.testing.assert_close(batched.grad, unbatched.grad, rtol=1e-12, atol=1e-12)
    assert batched.evaluations == unbatched.evaluations == 100


def test_finite_differences_batched_equals_unbatched():
    x = torch.linspace(-1.0, 1.0, 12, dtype=F64).reshape(3, 4)

    def loss(v):
        return torch.exp(v).sum() * v.sum()

    unbatched = finite_difference_gradient(loss, x)
    batched = finite_difference_gradient(stack_loss(loss), x, batched=True, batch_size=5)
    torch.testing.assert_close(batched.grad, unbatched.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "estimator", [spsa_gradient, gaussian_smoothing_gradient], ids=["spsa", "gaussian"]
)
def test_same_seed_reproduces_and_other_seed_differs(estimator):
    loss, x = make_quadratic(10)

    def run(seed):
        return estimator(loss, x, n_samples=4, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(run(0).grad, run(0).grad)
    assert not torch.equal(run(0).grad, run(1).grad)


@pytest.mark.parametrize(
    "estimate",
    [
        lambda f, x: spsa_gradient(f, x, n_samples=3, epsilon=0.1),
        lambda f, x: gaussian_smoothing_gradient(f, x, n_samples=3, sigma=0.1),
        lambda f, x: finite_difference_gradient(f, x, epsilon=0.1),
        autograd_gradient,
    ],
    ids=["spsa", "gaussian", "finite_difference", "autograd"],
)
def test_follows_dtype_and_never_modifies_x(estimate):
    x = torch.linspace(-1.0, 1.0, 6).reshape(2, 3).requires_grad_(True)
    before = x.detach().clone()
    est = estimate(lambda v: (v**3).sum(), x)
    assert est.grad.dtype == torch.float32
    assert est.grad.shape == x.shape
    assert est.grad.device == x.device
    assert not est.grad.requires_grad
    assert torch.equal(x.detach(), before)
    assert x.grad is None


def test_rounded_loss_defeats_autograd_but_not_spsa():
    # The loss rounds x to a 0.1 grid before a smooth quadratic: autograd sees a
    # piecewise-constant function with zero gradient, SPSA with a step wider than the
    # grid sees the slope of the smooth function.
    step = 0.1
    d = 10
    center = torch.linspace(-1.0, 1.0, d, dtype=F64)
    weight = torch.linspace(0.5, 2.0, d, dtype=F64)

    def smooth(v):
        return 0.5 * (weight * (v - center) ** 2).sum(-1)

    def rounded(v):
        return smooth(torch.round(v / step) * step)

    # 0.02 off the grid points: at least 0.03 from every rounding boundary.
    x = torch.linspace(-2.0, 2.0, d, dtype=F64).div(step).round().mul(step).add(0.02)
    smooth_grad = weight * (x - center)

    assert torch.equal(autograd_gradient(rounded, x).grad, torch.zeros_like(x))

    generator = torch.Generator().manual_seed(11)
    wide = spsa_gradient(
        rounded, x, n_samples=2000, epsilon=3 * step, generator=generator, batched=True
    )
    assert cosine_similarity(wide.grad, smooth_grad) > 0.9

    # A step far below the grid never changes the rounded input: no signal at all.
    narrow = spsa_gradient(rounded, x, n_samples=200, epsilon=1e-3, generator=generator)
    assert torch.equal(narrow.grad, torch.zeros_like(x))


def test_cosine_similarity():
    a = torch.tensor([1.0, 2.0, 3.0])
    assert cosine_similarity(a, 2 * a) == pytest.approx(1.0, abs=1e-15)
    assert cosine_similarity(a, -a.reshape(3, 1)) == pytest.approx(-1.0, abs=1e-15)
    assert cosine_similarity(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 5.0])) == 0.0
    assert cosine_similarity(torch.zeros(3), a) == 0.0
    # Computed in float64: these float32 vectors are so close to parallel that a float32
    # computation rounds their cosine to 1.
    a32 = torch.tensor([1.0, 1e-4], dtype=torch.float32)
    b32 = torch.tensor([1.0, -1e-4], dtype=torch.float32)
    (ax, ay), (bx, by) = a32.tolist(), b32.tolist()
    expected = (ax * bx + ay * by) / (math.hypot(ax, ay) * math.hypot(bx, by))
    assert expected < 1.0 - 1e-8
    assert cosine_similarity(a32, b32) == pytest.approx(expected, rel=1e-14)


def _quad(v):
    return (v**2).sum()


X3 = torch.ones(3)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda: spsa_gradient(_quad, X3, n_samples=0),
            ValueError,
            r"n_samples must be a positive integer, got 0",
        ),
        (
            lambda: spsa_gradient(_quad, X3, n_samples=-2),
            ValueError,
            r"n_samples must be a positive integer, got -2",
        ),
        (
            lambda: spsa_gradient(_quad, X3, n_samples=2.5),
            TypeError,
            r"n_samples must be a positive integer, got 2\.5",
        ),
        (
            lambda: spsa_gradient(_quad, X3, n_samples=True),
            TypeError,
            r"n_samples must be a positive integer, got True",
        ),
        (
            lambda: spsa_gradient(_quad, X3, epsilon=0.0),
            ValueError,
            r"epsilon must be a positive finite number, got 0\.0",
        ),
        (
            lambda: spsa_gradient(_quad, X3, epsilon=-1e-3),
            ValueError,
            r"epsilon must be a positive finite number, got -0\.001",
        ),
        (
            lambda: spsa_gradient(_quad, X3, epsilon=math.nan),
            ValueError,
            r"epsilon must be a positive finite number, got nan",
        ),
        (
            lambda: spsa_gradient(_quad, X3, epsilon="1e-3"),
            TypeError,
            r"epsilon must be a positive finite number, got '1e-3'",
        ),
        (
            lambda: spsa_gradient(_quad, X3, generator=0),
            TypeError,
            r"generator must be a torch\.Generator or None, got int",
        ),
        (
            lambda: spsa_gradient(_quad, X3, batched=True, batch_size=0),
            ValueError,
            r"batch_size must be a positive integer, got 0",
        ),
        (
            lambda: spsa_gradient(_quad, X3, batched=1),
            TypeError,
            r"batched must be True or False, got 1",
        ),
        (
            lambda: gaussian_smoothing_gradient(_quad, X3, sigma=0),
            ValueError,
            r"sigma must be a positive finite number, got 0",
        ),
        (
            lambda: gaussian_smoothing_gradient(_quad, X3, sigma=math.inf),
            ValueError,
            r"sigma must be a positive finite number, got inf",
        ),
        (
            lambda: gaussian_smoothing_gradient(_quad, X3, n_samples=0),
            ValueError,
            r"n_samples must be a positive integer, got 0",
        ),
        (
            lambda: finite_difference_gradient(_quad, X3, epsilon=0),
            ValueError,
            r"epsilon must be a positive finite number, got 0",
        ),
        (
            lambda: finite_difference_gradient(_quad, torch.ones(0)),
            ValueError,
            r"x must have at least one element, got shape \(0,\)",
        ),
        (
            lambda: finite_difference_gradient(_quad, torch.ones(3, dtype=torch.int64)),
            TypeError,
            r"x must be a floating-point tensor, got dtype torch\.int64",
        ),
        (
            lambda: finite_difference_gradient(_quad, [1.0, 2.0]),
            TypeError,
            r"x must be a torch\.Tensor, got list",
        ),
        (
            lambda: finite_difference_gradient("loss", X3),
            TypeError,
            r"loss_fn must be callable, got str",
        ),
        (
            lambda: finite_difference_gradient(lambda v: v, X3),
            ValueError,
            r"loss_fn must return a scalar \(0-d\) tensor, got shape \(3,\)",
        ),
        (
            lambda: spsa_gradient(_quad, X3, batched=True),
            ValueError,
            r"batched loss_fn must map \(k, \*x\.shape\) to shape \(k,\); "
            r"given 2 points it returned shape \(\)",
        ),
        (
            lambda: autograd_gradient(lambda v: torch.tensor(v.sum().item()), X3),
            ValueError,
            r"loss_fn output does not require grad",
        ),
        (
            lambda: autograd_gradient(_quad, torch.ones(3, dtype=torch.int32)),
            TypeError,
            r"x must be a floating-point tensor",
        ),
        (
            lambda: cosine_similarity(torch.ones(3), torch.ones(4)),
            ValueError,
            r"a and b must have the same number of elements, got 3 and 4",
        ),
        (
            lambda: cosine_similarity(torch.ones(3), [1.0, 1.0, 1.0]),
            TypeError,
            r"b must be a torch\.Tensor, got list",
        ),
    ],
)
def test_bad_arguments_raise_clear_errors(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_x_with_a_cpu_generator():
    x = torch.linspace(-1.0, 1.0, 16, dtype=F64)

    def loss(v):
        return (torch.sin(v) * v).sum(-1)

    def run(device):
        generator = torch.Generator().manual_seed(2)
        return spsa_gradient(loss, x.to(device), 64, generator=generator, batched=True)

    on_cuda, on_cpu = run("cuda"), run("cpu")
    assert on_cuda.grad.device.type == "cuda"
    torch.testing.assert_close(on_cuda.grad.cpu(), on_cpu.grad, rtol=1e-10, atol=1e-10)
