"""The Viterbi decoder of every f0 path in foldpitch, offline and online (fixed lag).

A path picks one state per frame (a period bin of the network, or one of a frame's
period candidates); its score is the sum of the frames' log-probabilities minus
``jump_cost * |position[t] - position[t - 1]|`` for every move between consecutive
frames, where each state has a position (a bin index, a log2 period). The cost is
linear in the distance, so the best predecessor of every state is found with two
running maxima over the states sorted by position (a distance transform): ``O(n log n)``
per frame, ``O(n)`` when every frame has the same increasing positions (bins), instead
of ``O(n ** 2)``.

:class:`ViterbiDecoder` takes frames as they come (``push``) and decides each frame
``lag`` frames later (fixed-lag smoothing: the state of frame ``t - lag`` on the best
path through frames ``0 .. t``); :meth:`~ViterbiDecoder.flush` decides the rest from the
best path through all frames. With a lag at least the number of frames, or ``lag=None``,
nothing is decided before the flush and the path is exactly the offline one,
:func:`viterbi`.

The offline forward pass over a shared grid (``lag=None``, no per-frame positions: what
:func:`foldpitch.predict.predict` runs) goes through the C kernel of ``csrc/viterbi.c``
where :mod:`foldpitch._native` can build it, with the same arithmetic, ties and result
as the numpy loop, which stays the reference and the fallback.

Layering: numpy and :mod:`foldpitch._native`; :mod:`foldpitch.predict`,
:mod:`foldpitch.stream` and :mod:`foldpitch.fit` build their frames' log-probabilities
and call this.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from . import _checks

__all__ = ["ViterbiDecoder", "viterbi"]


def viterbi(
    log_probs: np.ndarray,
    jump_cost: float,
    positions: np.ndarray | None = None,
    free_states: int = 0,
) -> np.ndarray:
    """Most probable path through all frames.

    Args:
        log_probs: float ``(rows, n_frames, n_states)``, each state's log-probability (or
            any score; ``-inf`` for an impossible state, at least one finite per frame).
        jump_cost: score lost per unit of position moved between frames, ``>= 0``
            (0 gives each frame's best state).
        positions: ``(n_states,)`` increasing, the same for every frame (default
            ``arange(n_states)``: a move of one bin costs ``jump_cost``), or ``(rows,
            n_frames, n_states)`` finite, any order, per frame.
        free_states: moves of up to this many states cost nothing (a move from ``j``
            to ``i`` costs ``jump_cost`` times the distance from ``position[i]`` to the
            nearest position within ``free_states`` states of ``j``); shared positions
            only.

    Returns:
        int64 ``(rows, n_frames)``: the chosen state of every frame.

    Example:
        >>> table = np.log([[[0.6, 0.4], [0.1, 0.9], [0.7, 0.3]]])
        >>> viterbi(table, 0.0).tolist(), viterbi(table, 5.0).tolist()
        ([[0, 1, 0]], [[1, 1, 1]])
    """
    decoder = ViterbiDecoder(jump_cost, None, _static(positions), free_states)
    per_frame = None if positions is None or _static(positions) is not None else positions
    first = decoder.push(log_probs, per_frame)
    return np.concatenate([first, decoder.flush()], axis=-1)


class ViterbiDecoder:
    """Viterbi decoding frame by frame, each frame decided ``lag`` frames after it.

    Keeps the forward scores of the last frame and the back-pointers of the frames not
    yet decided plus ``lag``; memory is bounded by the lag (by the length with
    ``lag=None``).

    Args:
        jump_cost: score lost per unit of position moved between frames, ``>= 0``.
        lag: frames of look-ahead before a frame is decided, an integer ``>= 0`` (0 is
            the best state of the forward scores, filtering); ``None`` decides nothing
            before :meth:`flush` (the offline path).
        positions: ``(n_states,)`` increasing positions shared by every frame; ``None``
            gives the state index, unless positions are passed to :meth:`push` (when
            they change from frame to frame).
        free_states: moves of up to this many states cost nothing, longer ones the
            distance beyond (see :func:`viterbi`); an integer ``>= 0``, shared positions
            only.

    Example:
        >>> table = np.log([[[0.6, 0.4], [0.45, 0.55], [0.1, 0.9]]])
        >>> decoder = ViterbiDecoder(jump_cost=0.5, lag=1)
        >>> decoder.push(table[:, :2]).tolist(), decoder.push(table[:, 2:]).tolist()
        ([[0]], [[1]])
        >>> decoder.flush().tolist()
        [[1]]
    """

    def __init__(
        self,
        jump_cost: float,
        lag: int | None = None,
        positions: np.ndarray | None = None,
        free_states: int = 0,
    ) -> None:
        _checks.non_negative_real("jump_cost", jump_cost)
        self.free_states = _checks.non_negative_int("free_states", free_states, unit="states")
        if lag is not None:
            lag = _checks.non_negative_int("lag", lag, unit="frames")
        if positions is not None:
            positions = np.asarray(positions, dtype=np.float64)
            if positions.ndim != 1 or (np.diff(positions) <= 0).any():
                raise ValueError("positions must be increasing, of shape (n_states,)")
        self.jump_cost = float(jump_cost)
        self.lag = lag
        self._grid = positions
        self._score: np.ndarray | None = None  # (rows, n_states), best score ending there
        self._previous: np.ndarray | None = None  # positions of the last frame (per frame)
        self._back: deque[np.ndarray] = deque()  # back-pointers of the frames kept
        self._decided = 0  # frames decided so far
        self._seen = 0  # frames pushed so far

    @property
    def n_decided(self) -> int:
        """Frames decided so far (returned by :meth:`push` or :meth:`flush`)."""
        return self._decided

    def push(self, log_probs: np.ndarray, positions: np.ndarray | None = None) -> np.ndarray:
        """Add frames; return the states of the frames this decides.

        Args:
            log_probs: float ``(rows, n, n_states)``, ``n >= 0`` new frames.
            positions: ``(rows, n, n_states)`` finite, the new frames' positions, for a
                decoder made without shared ``positions``; ``None`` on every push
                otherwise.

        Returns:
            int64 ``(rows, n_decided)``: the states of frames ``n_decided`` onwards that
            became final (none until ``lag`` frames follow them).
        """
        log_probs = np.asarray(log_probs, dtype=np.float64)
        if log_probs.ndim != 3:
            raise ValueError(
                f"log_probs must be (rows, n_frames, n_states), got shape {log_probs.shape}"
            )
        if positions is None and self._grid is None:
            self._grid = np.arange(log_probs.shape[-1], dtype=np.float64)
        elif positions is not None:
            if self._grid is not None:
                raise ValueError("positions: this decoder has shared positions; pass none")
            if self.free_states:
                raise ValueError(
                    "positions: free_states needs positions shared by every frame, "
                    "not positions per frame"
                )
            positions = np.asarray(positions, dtype=np.float64)
            if positions.shape != log_probs.shape:
                raise ValueError(
                    f"positions must have the shape of log_probs {log_probs.shape}, "
                    f"got {positions.shape}"
                )
        if positions is None and self.lag is None and log_probs.shape[1] > 1:
            if self._forward_in_c(log_probs):
                return np.empty((log_probs.shape[0], 0), np.int64)
        decided = []
        for t in range(log_probs.shape[1]):
            frame = log_probs[:, t]
            where = self._grid if positions is None else positions[:, t]
            if self._score is None:
                score = frame.copy()
            else:
                if positions is None:
                    best, back = _grid_predecessor(
                        self._score, where * self.jump_cost, self.free_states
                    )
                else:
                    best, back = _best_predecessor(
                        self._score, self._previous, where, self.jump_cost
                    )
                self._back.append(back)
                score = best + frame
            self._score = _less_peak(score)
            self._previous = where
            self._seen += 1
            if self.lag is not None and self._seen - 1 - self.lag >= self._decided:
                decided.append(self._backtrack(self._seen - 1 - self._decided)[:, :1])
                self._decided += 1
                while len(self._back) > self.lag:  # back[u] for u in (t - lag, t] stay
                    self._back.popleft()
        rows = log_probs.shape[0]
        return np.concatenate(decided, -1) if decided else np.empty((rows, 0), np.int64)

    def _forward_in_c(self, log_probs: np.ndarray) -> bool:
        """The offline forward pass over a shared grid in C (``csrc/viterbi.c``, the same
        arithmetic and ties as the loop in :meth:`push`, about 30 times faster); False,
        having done nothing, where the C kernels are unavailable."""
        from . import _native

        if not _native.available():
            return False
        if self._score is None:  # the first frame has no predecessor
            self._score = _less_peak(log_probs[:, 0])
            self._seen += 1
            log_probs = log_probs[:, 1:]
        score = np.ascontiguousarray(self._score, dtype=np.float64)
        dtype = np.uint8 if score.shape[-1] <= 256 else np.int32  # as _grid_predecessor
        back = _native.viterbi_grid_forward(
            score, log_probs, self._grid * self.jump_cost, dtype, self.free_states
        )
        self._back.extend(back)
        self._score, self._previous = score, self._grid
        self._seen += log_probs.shape[1]
        return True

    def flush(self) -> np.ndarray:
        """Decide every frame not yet decided, from the best path through all frames;
        int64 ``(rows, n)``. The decoder then starts afresh."""
        if self._score is None:
            return np.empty((0, 0), np.int64)
        steps = self._seen - 1 - self._decided
        path = self._backtrack(steps) if steps >= 0 else np.empty((len(self._score), 0), np.int64)
        self.__init__(self.jump_cost, self.lag, self._grid, self.free_states)
        return path

    def _backtrack(self, steps: int) -> np.ndarray:
        """States of the last ``steps + 1`` frames on the best path ending at the best
        state of the last frame, ``(rows, steps + 1)``, oldest first."""
        rows = np.arange(self._score.shape[0])
        path = np.empty((self._score.shape[0], steps + 1), np.int64)
        path[:, -1] = self._score.argmax(-1)
        for step in range(1, steps + 1):
            path[:, -1 - step] = self._back[-step][rows, path[:, -step]]
        return path


def _less_peak(score: np.ndarray) -> np.ndarray:
    """Each row's scores minus its best where that is finite, so that scores stay bounded
    over hours (``csrc/viterbi.c`` does the same after each frame)."""
    peak = score.max(-1, keepdims=True)
    return score - np.where(np.isfinite(peak), peak, 0)


def _static(positions) -> np.ndarray | None:
    """``positions`` when it is one shared ``(n_states,)`` grid, else ``None``."""
    if positions is None:
        return None
    positions = np.asarray(positions)
    return positions if positions.ndim == 1 else None


def _grid_predecessor(
    score: np.ndarray, position: np.ndarray, free_states: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``max_j score[j] - |position[i] - position[j]|`` and its ``j``, for every ``i``
    (``score (rows, n_states)``, ``position`` increasing and shared by both frames):
    the best of the running maximum from below and the one from above. With
    ``free_states`` the same over each state's window maximum (:func:`_window_max`),
    the back-pointer leading to the state that reached it."""
    if free_states:
        window, from_window = _window_max(score, free_states)
        best, back = _grid_predecessor(window, position)
        return best, np.take_along_axis(from_window, back.astype(np.int64), -1).astype(back.dtype)
    index = np.arange(score.shape[-1])
    below, from_below = _running_max(score + position, index)
    above, from_above = _running_max((score - position)[..., ::-1], index)
    below = below - position
    above = above[..., ::-1] + position
    from_above = (index[-1] - from_above)[..., ::-1]
    take_below = below >= above
    back = np.where(take_below, from_below, from_above)
    dtype = np.uint8 if score.shape[-1] <= 256 else np.int32  # bounds offline memory
    return np.where(take_below, below, above), back.astype(dtype)


def _window_max(score: np.ndarray, free_states: int) -> tuple[np.ndarray, np.ndarray]:
    """The maximum of ``score (rows, n_states)`` over states ``k - free_states .. k +
    free_states`` (clipped to the grid) for every ``k``, and the earliest state reaching
    it, as ``csrc/viterbi.c``."""
    n = score.shape[-1]
    # Offsets in increasing order and argmax's first maximum: the earliest state wins.
    states = np.clip(np.arange(n) + np.arange(-free_states, free_states + 1)[:, None], 0, n - 1)
    candidates = score[..., states]  # (rows, 2 * free_states + 1, n)
    choice = candidates.argmax(-2)  # (rows, n): which offset
    maximum = np.take_along_axis(candidates, choice[..., None, :], -2)[..., 0, :]
    return maximum, states[choice, np.arange(n)]


def _best_predecessor(
    score: np.ndarray, previous: np.ndarray, current: np.ndarray, jump_cost: float
) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`_grid_predecessor` for states whose positions change between frames:
    ``previous (rows, m)`` and ``current (rows, n)``, any order. The previous states are
    sorted by position; each current state reads the running maximum of those at or
    below it and of those at or above it."""
    order = np.argsort(previous, axis=-1, kind="stable")
    sorted_position = np.take_along_axis(previous, order, -1)
    sorted_score = np.take_along_axis(score, order, -1)
    m = previous.shape[-1]
    index = np.arange(m)
    below, from_below = _running_max(sorted_score + jump_cost * sorted_position, index)
    above, from_above = _running_max((sorted_score - jump_cost * sorted_position)[..., ::-1], index)
    above, from_above = above[..., ::-1], (m - 1 - from_above)[..., ::-1]
    best = np.empty(current.shape)
    back = np.empty(current.shape, np.int64)
    for row in range(current.shape[0]):
        # Previous states at or below each current one: sorted_position[:count].
        count = np.searchsorted(sorted_position[row], current[row], side="right")
        start = np.searchsorted(sorted_position[row], current[row], side="left")
        low = np.where(count > 0, below[row, count - 1] - jump_cost * current[row], -np.inf)
        high_index = np.minimum(start, m - 1)
        high = np.where(start < m, above[row, high_index] + jump_cost * current[row], -np.inf)
        take_below = low >= high
        best[row] = np.where(take_below, low, high)
        chosen = np.where(take_below, from_below[row, count - 1], from_above[row, high_index])
        back[row] = order[row, chosen]
    return best, back


def _running_max(values: np.ndarray, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Running maximum along the last axis and where it was reached (the latest index
    among ties)."""
    best = np.maximum.accumulate(values, axis=-1)
    where = np.maximum.accumulate(np.where(values >= best, index, 0), axis=-1)
    return best, where
