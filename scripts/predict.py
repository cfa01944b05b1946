"""Estimate f0 with the trained network: ``python scripts/predict.py PATH... [--plot]``.

Same as ``foldpitch predict``; see ``python scripts/predict.py --help``.
"""

import sys

from foldpitch.cli import main

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
