#!/usr/bin/env bash
# Install foldpitch and everything its test suite needs, so that only the tests that need
# a GPU skip. The README's test command and .ci/run both call this, then `python -m pytest`.
#
# Python packages: the dev, train and bench extras, and the compare extra (what the
# accuracy harness compares against; pysptk and pyworld have no wheel for every Python and
# build from source). torchcrepe, pesto-pitch and torchfcpe are installed without their
# dependencies: they pin torchaudio, which does not load against every torch (and would
# pull another torch); they import it only to read files, which foldpitch never asks of
# them (benchmarks/accuracy/methods.py stands in for it).
#
# Debian packages (apt-get, as root or through sudo): espeak-ng, festival and its voices,
# fluidsynth and soundfonts for the speech and instrument tests: exactly APT_PACKAGES, an
# allow-list, with --no-install-recommends (festival recommends a voice of its own). Some
# installable voices and soundfonts are kept for independent evaluation and must never be
# installed or used, so apt's plan is checked first (apt-get -s): it may install no voice,
# soundfont or synthesiser package (names matching VOICE_LIKE) that is not in APT_PACKAGES.
set -euo pipefail
cd "$(dirname "$0")/.."

pip install torch==2.13.0
pip install -e ".[dev,bench,train,compare,corpus]"
pip install --no-deps torchcrepe pesto-pitch torchfcpe
if pip show torchaudio >/dev/null 2>&1 && ! python -c "import torchaudio" >/dev/null 2>&1; then
    pip uninstall -y torchaudio  # installed but unloadable: the stand-in takes over
fi

APT_PACKAGES=(
    espeak-ng festival fluidsynth
    festvox-ca-ona-hts festvox-czech-dita festvox-czech-krb festvox-czech-machac
    festvox-czech-ph festvox-hi-nsk festvox-italp16k festvox-itapc16k festvox-kdlpc16k
    festvox-mr-nsk festvox-ru festvox-suopuhe-lj festvox-suopuhe-mv festvox-te-nsk
    musescore-general-soundfont-lossless timgm6mb-soundfont
    festival-hi festival-mr festival-te  # the NSK voices' languages (only recommended)
    festival-ca festival-czech festvox-suopuhe-common  # the voices' own dependencies
)
VOICE_LIKE='soundfont|^festvox|^festival-'  # voice and soundfont packages: only those listed above

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_test_deps: no apt-get here; install by hand: ${APT_PACKAGES[*]}" >&2
    exit 1
fi
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
"${SUDO[@]}" apt-get update
planned=$("${SUDO[@]}" apt-get install -s -y --no-install-recommends "${APT_PACKAGES[@]}" \
    | awk '$1 == "Inst" {print $2}')
unlisted=$(echo "$planned" | grep -E "$VOICE_LIKE" \
    | grep -vxF -f <(printf '%s\n' "${APT_PACKAGES[@]}") || true)
if [ -n "$unlisted" ]; then
    echo "install_test_deps: apt would install voice or soundfont packages that are not" \
        "on the allow-list (APT_PACKAGES); refusing:" >&2
    echo "$unlisted" >&2
    exit 1
fi
"${SUDO[@]}" apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"
