"""Fit the f0 envelope of audio files directly: ``python scripts/fit.py AUDIO... [--plot]``.

Same as ``foldpitch fit``; see ``python scripts/fit.py --help``.
"""

import sys

from foldpitch.cli import main

if __name__ == "__main__":
    sys.exit(main(["fit", *sys.argv[1:]]))
