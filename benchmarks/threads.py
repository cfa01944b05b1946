"""How ``foldpitch.predict``'s speed depends on its thread count, on a quiet and a loaded machine.

For 3 s and 60 s of generated 16 kHz audio (batch 1, the shipped checkpoint, torch
backend), the real-time factor (wall time / audio duration; median of ``--repeats``
runs after a warm-up, 10 or more for 3 s) of ``predict`` with 1 thread, with 2 threads
and with its default (``threads=None``), in two conditions:

- **as found**: whatever else the machine is running (said in the table: the load);
- **loaded**: one extra busy-loop process per core (``while True: pass``, at this
  process's niceness) runs throughout, as other work on a shared machine would.

With every figure the table gives the load it was measured under: the mean number of
runnable threads on the machine while that cell ran (sampled from ``/proc/loadavg``
every 0.1 s; this benchmark's own running threads included) and the one-minute load
average at the cell's end. Speed targets are not asserted here (figures, not tests).

Regenerate ``benchmarks/results/threads.md`` with::

    python benchmarks/threads.py --write
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch

RESULTS_FILE = Path(__file__).parent / "results" / "threads.md"
SAMPLE_RATE = 16000
DURATIONS = (3, 60)
SETTINGS = (1, 2, None)  # None: predict's default


def test_audio(seconds: float, seed: int) -> np.ndarray:
    """A generated harmonic clip with noise at 20 dB SNR, float32 ``(seconds * 16000,)``."""
    from foldpitch.data import synthesize_excerpt

    out = synthesize_excerpt(
        seed, 0, n_samples=int(seconds * SAMPLE_RATE), sample_rate=SAMPLE_RATE, snr_db=20.0
    )
    return out["audio"]


class LoadSampler:
    """Mean number of runnable threads on the machine (``/proc/loadavg``'s 4th field)
    while the ``with`` block runs."""

    def __enter__(self) -> LoadSampler:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        # one sample at once, then every 0.1 s: a cell shorter than that still gets one
        while True:
            with open("/proc/loadavg") as file:
                self.samples.append(int(file.read().split()[3].split("/")[0]))
            if self._stop.wait(0.1):
                return

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join()
        self.mean = statistics.fmean(self.samples) if self.samples else float("nan")
        self.load_1min = os.getloadavg()[0]


def start_burners(n: int) -> list[subprocess.Popen]:
    """``n`` busy-loop processes (one per core), inheriting this process's niceness."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def stop_burners(burners: list[subprocess.Popen]) -> None:
    for burner in burners:
        burner.kill()
        burner.wait()


def measure(checkpoint: str, repeats: int, loaded: bool) -> list[dict]:
    """One row per thread setting: ``{"threads", "rtf": {seconds: rtf}, "load": {...}}``."""
    from foldpitch.predict import predict

    has_threads = "threads" in inspect.signature(predict).parameters
    clips = {s: test_audio(s, seed=10 + s) for s in DURATIONS}
    default_threads = torch.get_num_threads()
    burners = start_burners(os.cpu_count() or 1) if loaded else []
    rows = []
    try:
        if loaded:
            time.sleep(2.0)  # let the burners reach the scheduler's steady state
        for setting in SETTINGS:
            if setting is None and not has_threads:
                continue
            row = {"threads": setting, "rtf": {}, "load": {}}
            for seconds, audio in clips.items():
                if has_threads:
                    run = lambda audio=audio, setting=setting: predict(  # noqa: E731
                        audio, SAMPLE_RATE, checkpoint, device="cpu", threads=setting
                    )
                else:
                    torch.set_num_threads(setting)
                    run = lambda audio=audio: predict(  # noqa: E731
                        audio, SAMPLE_RATE, checkpoint, device="cpu"
                    )
                n = max(repeats, 10) if seconds < 10 else repeats
                run()  # warm-up
                times = []
                with LoadSampler() as load:
                    for _ in range(n):
                        t0 = time.perf_counter()
                        run()
                        times.append(time.perf_counter() - t0)
                torch.set_num_threads(default_threads)
                row["rtf"][seconds] = statistics.median(times) / seconds
                row["load"][seconds] = (load.mean, load.load_1min)
                print(
                    f"{'loaded' if loaded else 'as found'}, threads={setting}, {seconds} s: "
                    f"rtf {row['rtf'][seconds]:.4f} (runnable {load.mean:.1f}, "
                    f"load avg {load.load_1min:.2f})",
                    flush=True,
                )
            rows.append(row)
    finally:
        stop_burners(burners)
        torch.set_num_threads(default_threads)
    return rows


def default_threads_note() -> str:
    predict_module = importlib.import_module("foldpitch.predict")  # the module, not the function
    resolve = getattr(predict_module, "_resolve_threads", None)
    if resolve is None:
        return "predict has no `threads` argument in this version"
    return ", ".join(
        f"{n} with {seconds} s of audio" for seconds in DURATIONS for n in [resolve(None, seconds)]
    )


def table(results: dict[str, list[dict]]) -> str:
    lines = [
        "| condition | threads | real-time factor, 3 s | (runnable / load avg) "
        "| real-time factor, 60 s | (runnable / load avg) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for condition, rows in results.items():
        for row in rows:
            threads = "default (`None`)" if row["threads"] is None else str(row["threads"])
            cells = []
            for seconds in DURATIONS:
                runnable, load_1min = row["load"][seconds]
                cells += [f"{row['rtf'][seconds]:.4f}", f"{runnable:.1f} / {load_1min:.2f}"]
            lines.append(f"| {condition} | {threads} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default=None, help="default: the shipped model")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs on 60 s")
    parser.add_argument("--write", action="store_true", help=f"write {RESULTS_FILE}")
    args = parser.parse_args(argv)

    results = {
        "as found": measure(args.checkpoint, args.repeats, loaded=False),
        f"loaded (+{os.cpu_count()} busy loops)": measure(
            args.checkpoint, args.repeats, loaded=True
        ),
    }
    command = "python benchmarks/threads.py" + (" --write" if args.write else "")
    text = "\n".join(
        [
            "# predict's thread count on a quiet and a loaded machine (CPU)",
            "",
            f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"torch's default thread count {torch.get_num_threads()}; `predict`'s default "
            f"here: {default_threads_note()}. 3 s and 60 s of generated 16 kHz audio, "
            f"batch 1, the shipped checkpoint, torch backend; median of {args.repeats} "
            f"runs on 60 s and {max(args.repeats, 10)} on 3 s after a warm-up. "
            "Runnable: the mean number of runnable threads on the machine during the cell "
            "(this benchmark's included); load avg: the one-minute load average at its "
            f"end. Command: `{command}`.",
            "",
            table(results),
            "",
        ]
    )
    print(text)
    if args.write:
        RESULTS_FILE.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
