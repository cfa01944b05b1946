"""The one Viterbi decoder (foldpitch.decode): offline and fixed-lag, against a brute-force
search over every path in float64."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from foldpitch.decode import ViterbiDecoder, viterbi


def brute_force(
    table: np.ndarray, positions: np.ndarray, jump_cost: float, free_states: int = 0
) -> np.ndarray:
    """Best path of one row by trying every path: ``table (n_frames, n_states)``,
    ``positions (n_frames, n_states)``. With ``free_states`` (shared positions), a move
    from state j to state i costs the distance from i to the nearest position within
    ``free_states`` states of j."""
    n_frames, n_states = table.shape
    grid = positions[0]
    near = [grid[max(0, j - free_states) : j + free_states + 1] for j in range(n_states)]
    best, best_path = -np.inf, None
    for path in itertools.product(range(n_states), repeat=n_frames):
        frames = np.arange(n_frames)
        score = table[frames, path].sum()
        if free_states:
            moves = zip(path[:-1], path[1:], strict=True)
            score -= jump_cost * sum(np.abs(near[j] - grid[i]).min() for j, i in moves)
        else:
            score -= jump_cost * np.abs(np.diff(positions[frames, path])).sum()
        if score > best:
            best, best_path = score, path
    return np.array(best_path)


def random_problem(seed, rows=2, n_frames=5, n_states=4, shared=True, impossible=False):
    rng = np.random.default_rng(seed)
    table = 3 * rng.standard_normal((rows, n_frames, n_states))
    if impossible:  # some states impossible, never a whole frame
        mask = rng.random(table.shape) < 0.3
        mask[..., 0] = False
        table = np.where(mask, -np.inf, table)
    if shared:
        grid = np.sort(rng.uniform(0, 4, n_states))
        positions = np.broadcast_to(grid, table.shape)
    else:
        grid = None
        positions = rng.uniform(0, 4, table.shape)
    return table, grid, positions


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("shared", [True, False])
def test_offline_path_is_the_best_of_all(seed, shared):
    jump_cost = [0.0, 0.3, 1.0, 4.0][seed % 4]
    table, grid, positions = random_problem(seed, shared=shared, impossible=seed % 3 == 0)
    path = viterbi(table, jump_cost, grid if shared else positions)
    for row in range(table.shape[0]):
        expected = brute_force(table[row], positions[row], jump_cost)
        np.testing.assert_array_equal(path[row], expected, err_msg=f"seed {seed} row {row}")


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("free_states", [1, 2])
def test_free_moves_path_is_the_best_of_all(seed, free_states):
    """Moves of up to ``free_states`` states cost nothing: the offline path (C where
    built), the numpy loop frame by frame and a fixed lag as long as the signal all
    find the best path of a brute-force search."""
    jump_cost = [0.3, 1.0, 4.0, 10.0][seed % 4]
    table, grid, positions = random_problem(seed, n_frames=5, n_states=5, impossible=seed % 3 == 0)
    offline = viterbi(table, jump_cost, grid, free_states=free_states)
    decoder = ViterbiDecoder(jump_cost, lag=5, positions=grid, free_states=free_states)
    for t in range(5):
        assert decoder.push(table[:, t : t + 1]).shape == (2, 0)
    np.testing.assert_array_equal(decoder.flush(), offline)
    for row in range(table.shape[0]):
        expected = brute_force(table[row], positions[row], jump_cost, free_states)
        np.testing.assert_array_equal(offline[row], expected, err_msg=f"row {row}")


def test_free_moves_follow_a_glide_that_costs_too_much_without_them():
    # A glide of one state per frame whose frames prefer it by 0.2 nats: at 0.5 per state
    # moved the path stays put; a free move of one state follows the glide.
    table = np.full((1, 6, 8), -1.0)
    table[0, np.arange(6), np.arange(6)] = -0.8
    assert len(set(viterbi(table, 0.5)[0].tolist())) == 1  # one state throughout
    assert viterbi(table, 0.5, free_states=1)[0].tolist() == list(range(6))


def test_default_positions_are_the_state_index():
    table, _, _ = random_problem(3, n_states=5)
    index = np.broadcast_to(np.arange(5.0), table.shape)
    path = viterbi(table, 0.7)
    for row in range(2):
        np.testing.assert_array_equal(path[row], brute_force(table[row], index[row], 0.7))


def test_zero_jump_cost_takes_each_frames_best():
    table, _, _ = random_problem(5, n_frames=30, n_states=9)
    np.testing.assert_array_equal(viterbi(table, 0.0), table.argmax(-1))


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("lag", [0, 1, 2])
def test_fixed_lag_decides_from_the_best_path_so_far(seed, lag):
    # Frame t - lag is decided as the state it has on the best path through 0 .. t; the
    # last `lag` frames as on the best path through everything.
    shared = seed % 2 == 0
    table, grid, positions = random_problem(seed, rows=1, n_frames=6, shared=shared)
    decoder = ViterbiDecoder(0.8, lag=lag, positions=grid)
    decided = []
    for t in range(6):
        decided.append(
            decoder.push(table[:, t : t + 1], None if shared else positions[:, t : t + 1])
        )
    decided.append(decoder.flush())
    decided = np.concatenate(decided, -1)[0]
    expected = []
    for t in range(lag, 6):
        expected.append(brute_force(table[0, : t + 1], positions[0, : t + 1], 0.8)[t - lag])
    expected.extend(brute_force(table[0], positions[0], 0.8)[6 - lag :])
    np.testing.assert_array_equal(decided, expected)


@pytest.mark.parametrize("seed", range(5))
def test_a_lag_as_long_as_the_signal_gives_the_offline_path_whatever_the_chunks(seed):
    rng = np.random.default_rng(100 + seed)
    shared = seed % 2 == 0
    table, grid, positions = random_problem(seed, n_frames=80, n_states=12, shared=shared)
    offline = viterbi(table, 0.5, grid if shared else positions)
    decoder = ViterbiDecoder(0.5, lag=80, positions=grid)
    pieces, start = [], 0
    while start < 80:
        stop = start + int(rng.integers(0, 9))
        pieces.append(
            decoder.push(table[:, start:stop], None if shared else positions[:, start:stop])
        )
        start = stop
    assert decoder.n_decided == 0
    pieces.append(decoder.flush())
    np.testing.assert_array_equal(np.concatenate(pieces, -1), offline)


def test_a_long_lag_agrees_with_offline_away_from_ambiguity():
    # A path that is clear within a few frames: a lag of 5 already finds it.
    table = np.full((1, 40, 10), -8.0)
    table[0, :20, 2] = table[0, 20:, 7] = -0.1
    decoder = ViterbiDecoder(0.5, lag=5)
    decided = np.concatenate([decoder.push(table), decoder.flush()], -1)
    np.testing.assert_array_equal(decided, viterbi(table, 0.5))
    assert decided[0].tolist() == [2] * 20 + [7] * 20


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"jump_cost": -1.0}, ValueError, "jump_cost"),
        ({"jump_cost": "1"}, TypeError, "jump_cost"),
        ({"jump_cost": 1.0, "lag": -1}, ValueError, "lag"),
        ({"jump_cost": 1.0, "lag": 1.5}, TypeError, "lag"),
        ({"jump_cost": 1.0, "positions": [2.0, 1.0]}, ValueError, "increasing"),
        ({"jump_cost": 1.0, "free_states": -1}, ValueError, "free_states"),
        ({"jump_cost": 1.0, "free_states": 0.5}, TypeError, "free_states"),
    ],
)
def test_bad_arguments_are_named(kwargs, error, match):
    with pytest.raises(error, match=match):
        ViterbiDecoder(**kwargs)


def test_bad_frames_are_named():
    decoder = ViterbiDecoder(1.0, positions=np.arange(3.0))
    with pytest.raises(ValueError, match="log_probs"):
        decoder.push(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="positions"):
        decoder.push(np.zeros((1, 4, 3)), np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match="free_states needs positions shared"):
        ViterbiDecoder(1.0, free_states=1).push(np.zeros((1, 4, 3)), np.zeros((1, 4, 3)))


@pytest.mark.parametrize("free_states", [0, 2])
@pytest.mark.parametrize("n_states", [7, 256, 300])  # uint8 back-pointers up to 256
def test_the_c_forward_pass_gives_the_numpy_path_exactly(monkeypatch, n_states, free_states):
    """The offline grid path in C (``csrc/viterbi.c``) against the numpy loop it
    replaces, pushed in uneven blocks: the same path and the same final scores, bit for
    bit, with ties everywhere (integer scores on an integer grid) and impossible states."""
    from foldpitch import _native

    if not _native.available():
        pytest.skip("no C compiler: the numpy loop is the only path")
    rng = np.random.default_rng(n_states)
    table = rng.integers(-3, 1, (3, 40, n_states)).astype(np.float64)
    table[rng.random(table.shape) < 0.2] = -np.inf
    table[:, 5] = -np.inf  # a frame with every state impossible
    table[:, 5, 1] = 0.0
    grid = np.arange(n_states, dtype=np.float64) * 2

    def decode(native: str):
        monkeypatch.setenv("FOLDPITCH_NATIVE", native)
        decoder = ViterbiDecoder(0.5, lag=None, positions=grid, free_states=free_states)
        for start, stop in ((0, 1), (1, 13), (13, 14), (14, 40)):
            assert decoder.push(table[:, start:stop]).shape == (3, 0)
        score = decoder._score.copy()
        return decoder.flush(), score

    path_c, score_c = decode("1")
    path_numpy, score_numpy = decode("0")
    np.testing.assert_array_equal(path_c, path_numpy)
    np.testing.assert_array_equal(score_c, score_numpy)
    # and the numpy loop is itself the best path (brute force on a small problem is above)
    assert np.isfinite(table[np.arange(3)[:, None], np.arange(40), path_c]).all()
