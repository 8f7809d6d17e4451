#!/usr/bin/env bash
# Reproduce the shipped weights (docs/model_zoo.md) with one command:
#   tools/experiments/train_zoo.sh [--work-dir work_dirs/zoo] [--threads 1] [--pack]
#       [--vfn-checkpoint FILE] [--seeds 0,1,2] [--cl-iters 200]
# 1. vfn_ivif: configs/vfn/vfn_1xb8-2k_ivifmix.py (every real pair of ../shared/data except the
#    MSRS val split)                                              -> WORK/vfn/
#    --vfn-checkpoint FILE skips this step and builds on that VFN (e.g. the shipped
#    cldyn_mm/model_zoo/weights/vfn_ivif.pth, which step 1 reproduces)
# 2. the msrs_det chain with that VFN (tools/experiments/msrs_det.sh --vfn-checkpoint): RTMDet-tiny
#    on VFN fusion and on SeAFusion's images, the closed loop for 3 seeds of CL_ITERS
#    iterations, the detector trained further (control a), the seed that is median on the train
#    split, evaluation of the frozen VFN detector on VIS, IR, VFN and CLDyN images (every seed)
#    and of the controls, fusion metrics, report                 -> WORK/msrs_det/
#    (no detector trained on VIS or IR alone: msrs_det.sh --stage det_vis,det_ir adds them)
# 3. with --pack: the weight files of cldyn_mm/model_zoo/weights/ from those runs
#    (tools/model_converters/pack_zoo_model.py; the detectors in fp16).
# Every step resumes where it stopped; rerun the same command after an interruption.
# Wall time on a 2-core CPU, one run at a time: about 2 h (VFN) + 1.3 h (two detectors)
# + 2 h (three closed-loop seeds, a control, evaluation); docs/model_zoo.md gives the measured
# times and how to run the steps side by side.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$REPO/work_dirs/zoo"
THREADS=1
PACK=no
VFN_CONFIG="$REPO/configs/vfn/vfn_1xb8-2k_ivifmix.py"
SEEDS=0,1,2
CL_ITERS=200
VFN_GIVEN=""
PY="${PYTHON:-}"
while [ $# -gt 0 ]; do
    case "$1" in
        --work-dir) WORK="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --python) PY="$2"; shift 2 ;;
        --pack) PACK=yes; shift ;;
        --vfn-checkpoint) VFN_GIVEN="$2"; shift 2 ;;
        --seeds) SEEDS="$2"; shift 2 ;;
        --cl-iters) CL_ITERS="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "train_zoo.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [ -z "$PY" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY=python; fi
fi
if [ -n "$VFN_GIVEN" ]; then  # resolved against the caller's directory
    [ -f "$VFN_GIVEN" ] || { echo "train_zoo.sh: --vfn-checkpoint $VFN_GIVEN does not exist" >&2; exit 2; }
    VFN_GIVEN="$(cd "$(dirname "$VFN_GIVEN")" && pwd)/$(basename "$VFN_GIVEN")"
fi
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
cd "$REPO"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's package, also from a copy
export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
log() { echo "[train_zoo $(date '+%F %T')] $*"; }

# 1. VFN
VFN_ITERS="$("$PY" -c "import sys; from mmengine.config import Config; print(Config.fromfile(sys.argv[1]).train_cfg.max_iters)" "$VFN_CONFIG")"
VFN_CKPT="$WORK/vfn/iter_${VFN_ITERS}.pth"
if [ -n "$VFN_GIVEN" ]; then
    VFN_CKPT="$VFN_GIVEN"
    log "vfn: given ($VFN_CKPT), not trained"
elif [ -f "$VFN_CKPT" ]; then
    log "vfn: done ($VFN_CKPT)"
else
    resume=()
    [ -f "$WORK/vfn/last_checkpoint" ] && resume=(--resume)
    log "vfn: training in $WORK/vfn ${resume[*]}"
    "$PY" tools/train.py "$VFN_CONFIG" --work-dir "$WORK/vfn" "${resume[@]}"
fi

# 2. detectors, closed loop, controls, evaluation
MODES=frozen_vis,frozen_ir,vfn,cldyn,vfn_more,seafusion
for seed in ${SEEDS//,/ }; do MODES="$MODES,cldyn_seed$seed"; done
bash tools/experiments/msrs_det.sh --work-dir "$WORK/msrs_det" --vfn-checkpoint "$VFN_CKPT" \
    --stage split,det_vfn,det_seafusion,export,closed_loop,det_vfn_more,select,eval,fusion,report \
    --eval-modes "$MODES" --seeds "$SEEDS" --cl-iters "$CL_ITERS" --threads "$THREADS" --python "$PY"

# 3. weight files
if [ "$PACK" = yes ]; then
    W="$REPO/cldyn_mm/model_zoo/weights"
    M="$WORK/msrs_det"
    final() { cat "$M/$1/finished"; }
    if [ -z "$VFN_GIVEN" ]; then
        "$PY" tools/model_converters/pack_zoo_model.py "$VFN_CONFIG" --part "$VFN_CKPT" \
            --out "$W/vfn_ivif.pth"
    fi
    "$PY" tools/model_converters/pack_zoo_model.py \
        configs/cldyn/cldyn_rtmdet-tiny_1xb4-200_msrs.py --half \
        --part "$(final det_vfn):adapter.model." --part "$(cut -f2 "$M/cldyn_selected"):fuser." \
        --out "$W/cldyn_rtmdet-tiny_msrs.pth"
    "$PY" tools/model_converters/pack_zoo_model.py \
        configs/cldyn/rtmdet-tiny_1xb4-1200_msrs-seafusion.py --half \
        --part "$(final det_seafusion):adapter.model." --out "$W/rtmdet-tiny_seafusion_msrs.pth"
fi
log "finished"
