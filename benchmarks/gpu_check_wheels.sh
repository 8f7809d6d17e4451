#!/usr/bin/env bash
# Download, here, what benchmarks/gpu_check.sh installs on the GPU machine (which reaches no
# package registry): wheels for its Python (3.12, manylinux x86_64) of the OpenMMLab packages
# and their needs that the machine's image lacks, and the mmcv source (compiled there). Into
# .whl/ (git-ignored through .git/info/exclude; carry it: run(..., carry=[".whl"])).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
mkdir -p .whl
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform any)
PIP=(python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12
     --implementation cp "${PLAT[@]}" -d .whl)
# pure Python / binary wheels (the image has numpy, scipy, matplotlib, opencv, pyyaml, rich,
# tqdm, packaging, six, pycocotools' needs ...; see /work/.library/device/KINDS.md)
"${PIP[@]}" mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 addict yapf termcolor \
    terminaltables prettytable pycocotools shapely wcwidth
# the sdist: its metadata step runs mmcv's setup.py, which needs torch and pkg_resources
PY=${PYTHON:-.venv/bin/python}
"$PY" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation -d .whl mmcv==2.1.0
ls -la .whl
du -sh .whl
