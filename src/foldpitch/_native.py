"""foldpitch's C kernels, built on first use: the fused CPU kernel of the cycle-form loss
(``csrc/fold_cycles.c``) and the forward steps of the Viterbi decoder
(``csrc/viterbi.c``, :func:`viterbi_grid_forward`).

The C files are compiled into one library once per source version with the system's C
compiler (``$CC``, else the compiler Python was built with, else ``cc``) into a cache folder
(``$FOLDPITCH_CACHE``, else ``$XDG_CACHE_HOME/foldpitch``, else ``~/.cache/foldpitch``)
and loaded with :mod:`ctypes`; it needs neither the PyTorch headers nor a build step at
install time. Where there is no compiler, or ``FOLDPITCH_NATIVE=0`` is set, the loss
uses its PyTorch path, with one warning saying why (none for ``FOLDPITCH_NATIVE=0``).

The kernel is built and loaded once per process for each setting of ``FOLDPITCH_NATIVE``,
``CC``, ``FOLDPITCH_CACHE`` and ``XDG_CACHE_HOME``: changing one of them (in
``os.environ``) takes effect at the next call, and changing it back reuses what was loaded.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import shlex
import shutil
import subprocess
import sysconfig
import tempfile
import warnings
from pathlib import Path

SOURCES = tuple(Path(__file__).with_name("csrc") / name for name in ("fold_cycles.c", "viterbi.c"))
# -fopenmp-simd: the `omp simd` reductions only; no OpenMP runtime is linked.
FLAGS = ("-O3", "-std=c99", "-fPIC", "-shared", "-fopenmp-simd")
KERNEL_CODES = {"linear": 0, "cubic": 1, "sinc": 2}
NORMALIZATION_CODES = {"none": 0, "energy": 1}
MAX_HALF_WIDTH = 256  # of the sinc kernel: MAX_TAPS / 2 in the C file
_STATUS = {2: "bad kernel arguments"}  # 1, out of memory, raises MemoryError


class NativeUnavailable(RuntimeError):
    """The fused kernel cannot be built or loaded here (the message says why)."""


def _compiler() -> list[str]:
    configured = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    command = shlex.split(configured)
    if not command or shutil.which(command[0]) is None:
        raise NativeUnavailable(
            f"no C compiler: {configured!r} is not on PATH (set CC to a C compiler, "
            "for example gcc or clang)"
        )
    return command


def _cache_dir() -> Path:
    if os.environ.get("FOLDPITCH_CACHE"):
        return Path(os.environ["FOLDPITCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "foldpitch"


def _build() -> Path:
    """Compile the kernels unless these sources, compiler and flags were compiled before."""
    compiler = _compiler()
    source = b"".join(path.read_bytes() for path in SOURCES)
    key = hashlib.sha256(source + repr((compiler, FLAGS)).encode()).hexdigest()[:16]
    folder = _cache_dir()
    library = folder / f"foldpitch-{key}.so"
    if library.exists():
        return library
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # Compile to a temporary name, then rename: processes building at the same
        # time (DataLoader workers, DDP ranks) never load half a file.
        with tempfile.TemporaryDirectory(dir=folder) as scratch:
            partial = Path(scratch) / library.name
            result = subprocess.run(
                [*compiler, *FLAGS, "-o", str(partial), *map(str, SOURCES), "-lm"],
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0:
                raise NativeUnavailable(
                    f"compiling {', '.join(p.name for p in SOURCES)} with {compiler[0]} failed "
                    f"(exit {result.returncode}): {result.stderr.strip()[-500:]}"
                )
            os.replace(partial, library)
    except OSError as error:
        raise NativeUnavailable(f"cannot build in {folder}: {error}") from error
    return library


_SETTINGS = ("FOLDPITCH_NATIVE", "CC", "FOLDPITCH_CACHE", "XDG_CACHE_HOME")
"""The environment variables that decide whether and how the kernel is built."""


def _load() -> ctypes.CDLL | NativeUnavailable:
    """The loaded library, or the reason there is none, for the current environment."""
    return _load_with(tuple(os.environ.get(name) for name in _SETTINGS))


@functools.cache
def _load_with(settings: tuple[str | None, ...]) -> ctypes.CDLL | NativeUnavailable:
    """:func:`_load` for one value of :data:`_SETTINGS` (the cache key; the functions
    below read the same variables), computed once per process."""
    if os.environ.get("FOLDPITCH_NATIVE", "1") == "0":
        return NativeUnavailable("disabled by FOLDPITCH_NATIVE=0")
    try:
        library = ctypes.CDLL(str(_build()))
    except NativeUnavailable as error:
        warnings.warn(
            f"foldpitch: the C kernels (the fused cycle-form loss, the Viterbi decoder) are "
            f"unavailable ({error}); using the slower PyTorch and numpy paths",
            RuntimeWarning,
            stacklevel=4,
        )
        return error
    except OSError as error:
        return NativeUnavailable(f"cannot load the compiled kernel: {error}")
    i64, f64, pointer, integer = ctypes.c_int64, ctypes.c_double, ctypes.c_void_p, ctypes.c_int
    library.fold_cycles.argtypes = [
        *(i64, i64, i64, f64),  # rows, n_frames, n_samples, hop
        *(pointer, integer, pointer, i64),  # level, level_is_float32, level_row, level_rows
        *(pointer, integer, pointer),  # audio, audio_is_float32, audio_row
        *(integer, integer, integer, integer),  # kernel, half_width, normalization, mean
        *(pointer, ctypes.POINTER(f64), pointer),  # loss, n_cycles, grad
    ]
    library.fold_cycles.restype = integer
    library.viterbi_grid_forward.argtypes = [
        *(i64, i64, i64),  # rows, n_frames, n_states
        *(pointer, pointer, pointer),  # position, frames, score
        *(pointer, integer, i64),  # back, back_bytes, free_states
        *(pointer, pointer, pointer, pointer),  # below, from_below, window, from_window
    ]
    library.viterbi_grid_forward.restype = integer
    return library


def library() -> ctypes.CDLL:
    """The loaded kernel; raises :class:`NativeUnavailable` saying why there is none."""
    loaded = _load()
    if isinstance(loaded, NativeUnavailable):
        raise loaded
    return loaded


def available() -> bool:
    """Whether the fused kernel is built and loaded (building it on the first call)."""
    return not isinstance(_load(), NativeUnavailable)


def check_status(status: int) -> None:
    if status == 1:
        raise MemoryError("the fused cycle-form kernel ran out of memory")
    if status != 0:
        raise RuntimeError(f"the fused cycle-form kernel failed: {_STATUS.get(status, status)}")


def viterbi_grid_forward(score, frames, position, back_dtype, free_states=0):
    """Forward steps of :class:`foldpitch.decode.ViterbiDecoder` on a shared grid, in C
    (``csrc/viterbi.c``): updates ``score`` (float64 ``(rows, n_states)``, C-contiguous)
    in place through ``frames`` (float64 ``(rows, n_frames, n_states)``) and returns the
    back-pointers, ``back_dtype`` (uint8 or int32) ``(n_frames, rows, n_states)``.
    ``position`` (``(n_states,)``) is already times the jump cost; moves of up to
    ``free_states`` states cost nothing. numpy is imported
    here: the loss's kernel needs none. Raises
    :class:`NativeUnavailable` where the kernels are not built."""
    import numpy as np

    kernel = library().viterbi_grid_forward
    rows, n_frames, n_states = frames.shape
    frames = np.ascontiguousarray(frames, dtype=np.float64)
    position = np.ascontiguousarray(position, dtype=np.float64)
    wanted = (rows, n_states)
    if score.dtype != np.float64 or not score.flags.c_contiguous or score.shape != wanted:
        raise ValueError("score must be C-contiguous float64 (rows, n_states)")
    back = np.empty((n_frames, rows, n_states), dtype=back_dtype)
    below, window = np.empty(n_states, np.float64), np.empty(n_states, np.float64)
    from_below, from_window = np.empty(n_states, np.int64), np.empty(n_states, np.int64)
    status = kernel(
        rows, n_frames, n_states,
        position.ctypes.data, frames.ctypes.data, score.ctypes.data,
        back.ctypes.data, back.itemsize, int(free_states),
        below.ctypes.data, from_below.ctypes.data, window.ctypes.data, from_window.ctypes.data,
    )  # fmt: skip
    if status != 0:
        raise RuntimeError(f"the Viterbi kernel refused its arguments (status {status})")
    return back
