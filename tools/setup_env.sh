#!/usr/bin/env bash
# Set up everything cldyn_mm needs on a fresh Linux x86_64 machine with Python 3.11 (CPU):
#   a virtual environment, the pinned OpenMMLab stack (torch 2.13.0+cpu, mmengine 0.10.7,
#   mmcv 2.1.0 compiled with its C++ ops, mmdet 3.3.0, mmsegmentation 1.2.2), the test
#   dependencies, onnx / onnxruntime for the ONNX export (requirements/deploy.txt) and
#   cldyn_mm itself in editable mode.
#
#   bash tools/setup_env.sh            # creates ./.venv
#   VENV=/path/venv bash tools/setup_env.sh
#
# The compiled mmcv wheel (~14 min to build on 2 cores) is kept in
# $CLDYN_WHEELHOUSE/torch-<torch version>-cp311/ (default ~/.cache/cldyn_mm/wheelhouse), keyed
# by the torch version, so a rerun skips the compile. A wheel is never reused across torch
# versions. An existing venv is reused (pip only installs what is missing); FRESH=1 recreates it.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${VENV:-$ROOT/.venv}
PY=${PYTHON:-python3}
WHEELHOUSE=${CLDYN_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/cldyn_mm/wheelhouse}
TORCH_VER=2.13.0
MMCV_VER=2.1.0
T0=$(date +%s)
say() { echo "[setup +$(( $(date +%s) - T0 ))s] $*"; }

"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), "cldyn_mm setup needs Python 3.11, found " + sys.version' \
    || exit 1
command -v g++ >/dev/null || { echo "g++ is needed to compile mmcv's ops (apt-get install -y g++)" >&2; exit 1; }

if [ "${FRESH:-0}" = 1 ]; then rm -rf "$VENV"; fi
if [ ! -x "$VENV/bin/python" ]; then say "create venv $VENV"; "$PY" -m venv "$VENV"; fi
VPY="$VENV/bin/python"
PIP=("$VPY" -m pip --disable-pip-version-check)

# 1. torch: only the CPU wheel. An unpinned or CUDA torch is several GB.
if ! "$VPY" -c "import torch,sys; sys.exit(0 if torch.__version__=='$TORCH_VER+cpu' else 1)" 2>/dev/null; then
    say "resolve torch==$TORCH_VER (must be the +cpu wheel)"
    REPORT=$(mktemp)
    "${PIP[@]}" install -q --dry-run --no-deps --ignore-installed --report "$REPORT" "torch==$TORCH_VER"
    URL=$("$VPY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["install"][0]["download_info"]["url"])' "$REPORT")
    rm -f "$REPORT"
    case "$URL" in
        *"torch-$TORCH_VER%2Bcpu-"*|*"torch-$TORCH_VER+cpu-"*) ;;
        *) echo "torch==$TORCH_VER resolves to $URL, not a +cpu wheel; refusing a CUDA download" >&2; exit 1 ;;
    esac
    say "install torch"
    "${PIP[@]}" install -q "torch==$TORCH_VER"
fi

# 2. pinned pure-Python / binary dependencies (setuptools<82 keeps pkg_resources for mmcv's setup.py)
say "install pinned dependencies"
"${PIP[@]}" install -q -r "$ROOT/requirements/stack.txt"

# 3. mmengine without its opencv-python (GUI) requirement: the headless build above provides cv2
"${PIP[@]}" install -q --no-deps "mmengine==0.10.7"

# 4. mmcv compiled with CPU ops, cached by torch version
TV=$("$VPY" -c 'import torch; print(torch.__version__)')
WDIR="$WHEELHOUSE/torch-$TV-cp311"
WHL="$WDIR/mmcv-$MMCV_VER-cp311-cp311-linux_x86_64.whl"
if ! "$VPY" -c "import mmcv, mmcv.ops, sys; sys.exit(0 if mmcv.__version__=='$MMCV_VER' else 1)" 2>/dev/null; then
    if [ ! -f "$WHL" ]; then
        say "compile mmcv $MMCV_VER with ops into $WDIR (about 14 minutes on 2 cores)"
        mkdir -p "$WDIR"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
            "${PIP[@]}" wheel -q --no-build-isolation --no-deps --no-binary mmcv --no-cache-dir \
            "mmcv==$MMCV_VER" -w "$WDIR"
    else
        say "reuse $WHL"
    fi
    "${PIP[@]}" install -q --no-deps --force-reinstall "$WHL"
fi

# 5. mmdet / mmseg (their requirements do not pull mmcv/mmengine/opencv), the test and the
#    ONNX export dependencies
say "install mmdet, mmsegmentation, test and deployment dependencies"
"${PIP[@]}" install -q "mmdet==3.3.0" "mmsegmentation==1.2.2" -r "$ROOT/requirements/stack.txt" \
    -r "$ROOT/requirements/tests.txt" -r "$ROOT/requirements/deploy.txt"

# 6. cldyn_mm itself
say "install cldyn_mm (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

say "verify"
"$VPY" - <<'PY'
import sys, torch, mmcv, mmcv.ops, mmengine, mmdet, mmseg, mmdet.models, mmseg.models  # noqa
from mmcv.ops import nms
assert torch.version.cuda is None, 'expected the CPU build of torch'
assert 'torchvision' not in sys.modules
import onnx, onnxruntime  # noqa
import cldyn_mm
print('OK torch', torch.__version__, 'mmengine', mmengine.__version__, 'mmcv', mmcv.__version__,
      'mmdet', mmdet.__version__, 'mmseg', mmseg.__version__, 'onnxruntime',
      onnxruntime.__version__, 'cldyn_mm', cldyn_mm.__version__)
PY
say "done: activate with 'source $VENV/bin/activate'"
