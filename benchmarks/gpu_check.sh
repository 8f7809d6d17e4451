#!/usr/bin/env bash
# The prepared GPU check of issue 11: run it on a lent GPU machine (the device tool), e.g.
#   run(command="bash benchmarks/gpu_check.sh", carry=[".whl"], timeout_s=540)
# It installs what the machine lacks from the wheels in .whl (made here, on the CPU machine,
# by `bash benchmarks/gpu_check_wheels.sh`: mmengine, mmdet, mmsegmentation and their pure
# Python needs for the GPU machine's Python, plus the mmcv source, compiled there with its CPU
# ops in about 2 minutes on 16 cores -- the closed-loop losses need no CUDA op), then runs
# benchmarks/gpu_check.py: CUDA tests, bench_fusion.py (fp32/bf16, batch 1/16, 640x480),
# bench_closed_loop.py with AMP, 20 closed-loop iterations with --amp. The markdown table goes
# to stdout and to $OUT/gpu_check.md (with the step logs); put it in docs/benchmarks.md.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
T0=$(date +%s)
say() { echo "[gpu_check.sh +$(( $(date +%s) - T0 ))s] $*" >&2; }

if ! "$PY" -c 'import mmcv.ops, mmdet, mmseg' 2>/dev/null; then
    [ -d .whl ] || { echo "mmcv/mmdet/mmseg are missing and there is no .whl folder: run" \
        "'bash benchmarks/gpu_check_wheels.sh' on the CPU machine and carry .whl" >&2; exit 2; }
    SITE=/tmp/gpu_check_site
    say "install the carried wheels into $SITE"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$SITE" .whl/*.whl || exit 2
    export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
    if ! "$PY" -c 'import mmcv.ops' 2>/dev/null; then
        say "compile mmcv with its CPU ops"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-16} "$PY" -m pip install -q \
            --no-index --no-deps --no-build-isolation --no-cache-dir --target "$SITE" \
            .whl/mmcv-*.tar.gz || exit 2
    fi
else
    export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
say "environment ready"
exec "$PY" benchmarks/gpu_check.py --device cuda "$@"
