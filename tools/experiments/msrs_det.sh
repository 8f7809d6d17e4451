#!/usr/bin/env bash
# The msrs_det experiment (docs/experiments/msrs_det.md): does CLDyN's compensation help a
# detector on real MSRS pairs?  Stages, in order:
#   split          check the train / val stem lists, write the ones used to WORK/splits/
#   vfn            train VFN on the train pairs (skipped with --vfn-checkpoint) -> WORK/vfn/
#   det_vfn        RTMDet-tiny on VFN-fused images (stage 1.5)     -> WORK/det_vfn/
#   det_vis        the same detector on visible images only        -> WORK/det_vis/
#   det_ir         the same detector on infrared images only       -> WORK/det_ir/
#   det_seafusion  the same detector on SeAFusion's fused images (control; needs
#                  DATA_ROOT/fused/SeAFusion/)                     -> WORK/det_seafusion/
#   export         the VFN detector as a frozen task adapter       -> WORK/export/det_vfn.pth
#   closed_loop    CLDyN's RSC for the frozen VFN-fused detector, once per --seeds seed
#                                                                  -> WORK/cldyn_seed<S>/
#   det_vfn_more   control: det_vfn trained further on VFN fusion for as many images as one
#                  closed-loop run sees (--cl-iters x 4)           -> WORK/det_vfn_more/
#   select_eval    each --seeds run's CLDyN mAP on the TRAIN split, no choice (lets the seeds
#                  finished early be scored while others train)   -> WORK/select/cldyn_seed<S>/
#   select         the closed-loop seed that is median on the TRAIN split (mAP; select_eval's
#                  results are reused)                             -> WORK/cldyn_selected
#   eval           mAP on the val (or --eval-root) pairs            -> WORK/eval/<mode>/metrics.json
#   fusion         fusion metrics of the VFN (and CLDyN) images    -> WORK/fusion/
#   report         results table with bootstrap intervals          -> WORK/results.md
# Every training stage skips when its run has finished (WORK/<run>/finished) and resumes from the
# last checkpoint otherwise (tools/train.py --resume), so rerunning the script continues where
# it stopped. The eval stage evaluates each run's final checkpoint (read from its `finished`
# file, whatever iteration counts it was trained with); a requested evaluation whose run has not
# finished is an error.
#
# Eval modes (--eval-modes; detector <- input):
#   vis, ir, vfn   det_vis <- VIS, det_ir <- IR, det_vfn <- VFN fusion
#   cldyn          det_vfn (frozen) <- CLDyN fusion of the selected seed
#   cldyn_seed<S>  the same for every seed (when --seeds has several)
#   frozen_vis, frozen_ir   det_vfn (frozen) <- VIS / IR
#   vfn_more       det_vfn_more <- VFN fusion                  (control a)
#   seafusion      det_seafusion <- SeAFusion's fused images   (control b; EVAL_ROOT/fused/SeAFusion)
# Default: vis, ir, vfn, cldyn (errors when they cannot run), plus the others whose runs have
# finished (and seafusion only where the evaluation root has SeAFusion's images).
# --weights zoo evaluates the shipped models (model-index.yml) instead of WORK's runs, no
# training: vis, ir, vfn, cldyn = the shipped CLDyN detection model's frozen detector on VIS,
# IR, VFN and CLDyN images, seafusion = the shipped SeAFusion detector.
#
# Usage (from anywhere; paths may be relative to the current directory):
#   tools/experiments/msrs_det.sh [--data-root DIR] [--work-dir DIR] [--stage S[,S...]]
#       [--train-list FILE] [--val-list FILE] [--eval-root DIR] [--eval-list FILE]
#       [--eval-modes M[,M...]] [--weights work|zoo] [--vfn-checkpoint FILE] [--seeds S[,S...]]
#       [--vfn-iters N] [--det-iters N] [--cl-iters N] [--threads N] [--python PY]
#       [--cfg-options K=V ...]   (appended to every training / test command)
# Defaults: --data-root ../shared/data/det/MSRS next to the repository, the fixed split of
# configs/experiments/msrs_det/splits/, --work-dir work_dirs/msrs_det, --stage all
# (= split,vfn,det_vfn,det_vis,det_ir,det_seafusion (when the data root has SeAFusion's images),
# export,closed_loop,det_vfn_more,select,eval,fusion,report; 'train' = split,vfn,det_vfn,det_vis,
# det_ir,det_seafusion), --seeds 0, iterations as in the configs, 1 torch thread.
# Another data root with the same layout (ir/, vi/, classes.txt, labels_yolo/fusion/): give
# --val-list (its test stems); without --train-list the other pairs of the root train.
# --eval-root / --eval-list evaluate the trained networks on a further root (e.g. a held-out
# copy of MSRS) without training on it.
# Environment: MSRS_DET_PANEL_EVERY=N draws the IR | VIS | VFN | CLDyN panels of the val
# evaluations for every N-th pair only (default 1: every pair; each panel costs a forward per
# tile).
set -euo pipefail

# MSRS_DET_REPO: the repository, when this script runs from a copy
REPO="${MSRS_DET_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
CFG_DIR="$REPO/configs/experiments/msrs_det"
# the package of this repository, also when the script runs from a copy (a git worktree) while
# another checkout is installed in the venv
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"

abspath() { python3 -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "$1"; }
die() { echo "[msrs_det $(date '+%F %T')] ERROR: $*" >&2; exit 1; }

DATA_ROOT="$REPO/../shared/data/det/MSRS"
WORK="$REPO/work_dirs/msrs_det"
TRAIN_LIST=""
VAL_LIST=""
EVAL_ROOT=""
EVAL_LIST=""
EVAL_MODES=""
STAGES="all"
WEIGHTS=work
VFN_GIVEN=""
SEEDS=0
VFN_ITERS=""
DET_ITERS=""
CL_ITERS=""
THREADS=1
PY="${PYTHON:-}"
EXTRA=()

while [ $# -gt 0 ]; do
    case "$1" in
        --data-root) DATA_ROOT="$2"; shift 2 ;;
        --work-dir) WORK="$2"; shift 2 ;;
        --train-list) TRAIN_LIST="$2"; shift 2 ;;
        --val-list|--test-list) VAL_LIST="$2"; shift 2 ;;
        --eval-root) EVAL_ROOT="$2"; shift 2 ;;
        --eval-list) EVAL_LIST="$2"; shift 2 ;;
        --eval-modes) EVAL_MODES="$2"; shift 2 ;;
        --stage|--stages) STAGES="$2"; shift 2 ;;
        --weights) WEIGHTS="$2"; shift 2 ;;
        --vfn-checkpoint) VFN_GIVEN="$2"; shift 2 ;;
        --seeds) SEEDS="$2"; shift 2 ;;
        --vfn-iters) VFN_ITERS="$2"; shift 2 ;;
        --det-iters) DET_ITERS="$2"; shift 2 ;;
        --cl-iters) CL_ITERS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --python) PY="$2"; shift 2 ;;
        --cfg-options) shift; while [ $# -gt 0 ] && [[ "$1" != --* ]]; do EXTRA+=("$1"); shift; done ;;
        -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "msrs_det.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

case "$WEIGHTS" in work|zoo) ;; *) echo "msrs_det.sh: --weights must be work or zoo, got $WEIGHTS" >&2; exit 2 ;; esac
[[ "$SEEDS" =~ ^[0-9]+(,[0-9]+)*$ ]] || { echo "msrs_det.sh: --seeds must be a comma-separated list of integers, got $SEEDS" >&2; exit 2; }
SEED_LIST=(${SEEDS//,/ })
if [ -z "$PY" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY=python; fi
fi
[ -d "$DATA_ROOT" ] || { echo "msrs_det.sh: --data-root $DATA_ROOT is not a folder" >&2; exit 2; }
DATA_ROOT="$(abspath "$DATA_ROOT")"
WORK="$(abspath "$WORK")"
[ -n "$TRAIN_LIST" ] && TRAIN_LIST="$(abspath "$TRAIN_LIST")"
[ -n "$VAL_LIST" ] && VAL_LIST="$(abspath "$VAL_LIST")"
if [ -n "$EVAL_ROOT" ]; then
    [ -d "$EVAL_ROOT" ] || { echo "msrs_det.sh: --eval-root $EVAL_ROOT is not a folder" >&2; exit 2; }
    EVAL_ROOT="$(abspath "$EVAL_ROOT")"
fi
if [ -n "$EVAL_LIST" ]; then
    [ -f "$EVAL_LIST" ] || { echo "msrs_det.sh: --eval-list $EVAL_LIST does not exist" >&2; exit 2; }
    EVAL_LIST="$(abspath "$EVAL_LIST")"
fi
if [ -n "$VFN_GIVEN" ]; then
    [ -f "$VFN_GIVEN" ] || { echo "msrs_det.sh: --vfn-checkpoint $VFN_GIVEN does not exist" >&2; exit 2; }
    VFN_GIVEN="$(abspath "$VFN_GIVEN")"
fi
if [ -z "$VAL_LIST" ]; then
    VAL_LIST="$CFG_DIR/splits/val.txt"
    [ -z "$TRAIN_LIST" ] && TRAIN_LIST="$CFG_DIR/splits/train.txt"
fi
[ -z "$EVAL_ROOT" ] && EVAL_ROOT="$DATA_ROOT"
if [ -z "$EVAL_LIST" ] && [ "$EVAL_ROOT" = "$DATA_ROOT" ]; then
    # the val split as checked by the split stage; with --weights zoo (no split stage) the list
    # the shipped models were validated on
    if [ "$WEIGHTS" = zoo ]; then EVAL_LIST="$VAL_LIST"; else EVAL_LIST="$WORK/splits/val.txt"; fi
fi
SEAFUSION_DIR=fused/SeAFusion
case "$STAGES" in
    all|train)
        det="det_vfn,det_vis,det_ir"
        [ -d "$DATA_ROOT/$SEAFUSION_DIR" ] && det="$det,det_seafusion"
        if [ "$STAGES" = all ]; then
            STAGES="split,vfn,$det,export,closed_loop,det_vfn_more,select,eval,fusion,report"
        else
            STAGES="split,vfn,$det"
        fi ;;
esac
if [ "$WEIGHTS" = zoo ]; then
    for s in vfn det_vfn det_vis det_ir det_seafusion export closed_loop det_vfn_more select_eval select; do
        [[ ",$STAGES," == *",$s,"* ]] && { echo "msrs_det.sh: --weights zoo evaluates the shipped models; stage $s trains (use --stage eval,fusion,report)" >&2; exit 2; }
    done
fi

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
mkdir -p "$WORK/logs"
cd "$REPO"

log() { echo "[msrs_det $(date '+%F %T')] $*"; }
has_stage() { [[ ",$STAGES," == *",$1,"* ]]; }
cfg_value() {  # cfg_value CONFIG EXPR  (EXPR in terms of the loaded config `c`)
    "$PY" -c "import sys; from mmengine.config import Config; c = Config.fromfile(sys.argv[1]); print($2)" "$1"
}

VFN_ITERS="${VFN_ITERS:-$(cfg_value "$CFG_DIR/vfn_1xb8-500_msrs.py" c.train_cfg.max_iters)}"
DET_ITERS="${DET_ITERS:-$(cfg_value "$CFG_DIR/rtmdet-tiny_fused_1xb4-1200_msrs.py" c.train_cfg.max_iters)}"
CL_CONFIG="$CFG_DIR/cldyn_rtmdet-tiny_1xb4-150_msrs.py"
CL_ITERS="${CL_ITERS:-$(cfg_value "$CL_CONFIG" c.train_cfg.max_iters)}"
TRAIN_SPLIT="$WORK/splits/train.txt"
VAL_SPLIT="$WORK/splits/val.txt"

# schedule overrides only when an iteration count was given explicitly (tests, other budgets)
iter_opts() {  # iter_opts KIND N CONFIG: cfg-options for a shorter / longer schedule
    local kind="$1" n="$2" conf="$3" base
    base="$(cfg_value "$conf" c.train_cfg.max_iters)"
    [ "$n" = "$base" ] && return 0
    local ck=$(( n < 100 ? n : 100 ))
    echo "train_cfg.max_iters=$n default_hooks.checkpoint.interval=$ck"
    case "$kind" in
        vfn|cl) echo "train_cfg.val_interval=$n" ;;
        det) local w=$(( n / 10 > 1 ? n / 10 : 1 ))
             echo "train_cfg.val_interval=$n param_scheduler.0.end=$w param_scheduler.1.begin=$w param_scheduler.1.end=$n" ;;
        more) echo "train_cfg.val_interval=$n param_scheduler.0.end=$n" ;;
    esac
}

# run_final NAME: the final checkpoint of a finished run (WORK/NAME/finished, written when its
# training completed; a run of an older version of this script: its default iter_<N>.pth);
# prints nothing when the run has not finished
run_final() {
    local wd="$WORK/$1" p
    if [ -f "$wd/finished" ]; then
        p="$(cat "$wd/finished")"
        [ -f "$p" ] || p="$wd/$(basename "$p")"  # the work dir was moved
        [ -f "$p" ] && { echo "$p"; return 0; }
    fi
    [ -n "${2:-}" ] && [ -f "$2" ] && echo "$2"
    return 0
}
run_state() {  # run_state NAME: why a run has no final checkpoint (for error messages)
    local wd="$WORK/$1"
    if [ -f "$wd/last_checkpoint" ]; then echo "stopped at $(basename "$(cat "$wd/last_checkpoint")") (run its stage to finish it)"
    else echo "not trained (no $wd/last_checkpoint)"; fi
}

# train NAME CONFIG FINAL_CKPT cfg-options...: skip when the run has finished, else (re)start
# or resume from the work dir's last checkpoint; records WORK/NAME/finished
train() {
    local name="$1" config="$2" final="$3"; shift 3
    local wd="$WORK/$name" done_ckpt
    done_ckpt="$(run_final "$name" "$final")"
    if [ -n "$done_ckpt" ]; then
        [ -f "$wd/finished" ] || echo "$done_ckpt" > "$wd/finished"
        log "$name: done ($done_ckpt)"; return 0
    fi
    local resume=()
    if [ -f "$wd/last_checkpoint" ]; then resume=(--resume); log "$name: resuming in $wd"; else log "$name: training in $wd"; fi
    local t0=$SECONDS
    "$PY" tools/train.py "$config" --work-dir "$wd" "${resume[@]}" --cfg-options "$@" "${EXTRA[@]}" \
        > "$WORK/logs/$name.log" 2>&1 || { log "$name: FAILED, see $WORK/logs/$name.log"; tail -20 "$WORK/logs/$name.log" >&2; exit 1; }
    [ -f "$final" ] || { log "$name: finished without $final"; exit 1; }
    echo "$final" > "$wd/finished"
    echo "$name $(( SECONDS - t0 ))" >> "$WORK/logs/times.txt"
    log "$name: done in $(( SECONDS - t0 )) s -> $final"
}

seafusion_opts() {  # seafusion_opts SPLIT...: read SeAFusion's fused images as the visible image
    local split
    for split in "$@"; do echo "${split}_dataloader.dataset.data_prefix.vi=$SEAFUSION_DIR"; done
}

data_opts() {  # data_opts ROOT TRAIN_LIST VAL_LIST: dataloader overrides
    local root="$1/" tr="$2" va="$3"
    echo "train_dataloader.dataset.data_root=$root train_dataloader.dataset.ann_file=$tr"
    echo "val_dataloader.dataset.data_root=$root val_dataloader.dataset.ann_file=$va"
    echo "test_dataloader.dataset.data_root=$root test_dataloader.dataset.ann_file=$va"
}

# zoo_model NAME: "config<TAB>weights" of a model of the model index (error when missing)
zoo_model() {
    local out
    out="$("$PY" -c "
import sys
from cldyn_mm.apis.model_index import resolve_model
try:
    print(*resolve_model(sys.argv[1]), sep='\t')
except Exception as e:  # unknown name, missing file
    print(str(e).splitlines()[0])
    sys.exit(1)
" "$1" 2>/dev/null)" || die "--weights zoo: $out"
    echo "$out"
}
ZOO_CLDYN=cldyn_rtmdet-tiny_msrs
ZOO_SEAFUSION=rtmdet-tiny_seafusion_msrs
ZOO_VFN=vfn_ivif

# ---------------------------------------------------------------- split
if [ "$WEIGHTS" = zoo ]; then
    echo "shipped models of $(basename "$("$PY" -c 'from cldyn_mm.apis.model_index import index_path; print(index_path())')") (--weights zoo)" > "$WORK/weights_source"
elif has_stage split || [ ! -f "$TRAIN_SPLIT" ] || [ ! -f "$VAL_SPLIT" ]; then
    rm -f "$WORK/weights_source"
    log "split: $DATA_ROOT"
    args=(--data-root "$DATA_ROOT" --val "$VAL_LIST" --out "$WORK/splits")
    [ -n "$TRAIN_LIST" ] && args+=(--train "$TRAIN_LIST")
    "$PY" tools/experiments/msrs_split.py "${args[@]}"
fi

# ---------------------------------------------------------------- vfn
if [ -n "$VFN_GIVEN" ]; then
    VFN_CKPT="$VFN_GIVEN"
    has_stage vfn && log "vfn: given ($VFN_CKPT), not trained"
else
    VFN_CKPT="$(run_final vfn "$WORK/vfn/iter_${VFN_ITERS}.pth")"
    if has_stage vfn; then
        train vfn "$CFG_DIR/vfn_1xb8-500_msrs.py" "$WORK/vfn/iter_${VFN_ITERS}.pth" \
            $(data_opts "$DATA_ROOT" "$TRAIN_SPLIT" "$VAL_SPLIT") \
            $(iter_opts vfn "$VFN_ITERS" "$CFG_DIR/vfn_1xb8-500_msrs.py")
        VFN_CKPT="$(run_final vfn)"
    fi
fi
if [ "$WEIGHTS" = zoo ]; then  # the fusion stage's VFN_full: the shipped VFN
    VFN_CKPT="$(zoo_model "$ZOO_VFN" | cut -f2)"
fi
need_vfn() { [ -n "$VFN_CKPT" ] && [ -f "$VFN_CKPT" ] || die "$1 needs the VFN: $(run_state vfn); or give --vfn-checkpoint"; }

# ---------------------------------------------------------------- detectors (stage 1.5)
for mode in vfn vis ir seafusion; do
    has_stage "det_$mode" || continue
    extra=(model.mode=$mode)
    case "$mode" in
        vfn)
            need_vfn det_vfn
            extra+=(model.fuser_checkpoint="$VFN_CKPT") ;;
        seafusion)
            [ -d "$DATA_ROOT/$SEAFUSION_DIR" ] || die "det_seafusion needs $DATA_ROOT/$SEAFUSION_DIR"
            extra=(model.mode=vis $(seafusion_opts train val test)) ;;
    esac
    train "det_$mode" "$CFG_DIR/rtmdet-tiny_fused_1xb4-1200_msrs.py" "$WORK/det_$mode/iter_${DET_ITERS}.pth" "${extra[@]}" \
        $(data_opts "$DATA_ROOT" "$TRAIN_SPLIT" "$VAL_SPLIT") \
        $(iter_opts det "$DET_ITERS" "$CFG_DIR/rtmdet-tiny_fused_1xb4-1200_msrs.py")
done

# ---------------------------------------------------------------- export
if has_stage export; then
    mkdir -p "$WORK/export"
    dst="$WORK/export/det_vfn.pth"
    if [ -f "$dst" ]; then
        log "export: done ($dst)"
    else
        src="$(run_final det_vfn "$WORK/det_vfn/iter_${DET_ITERS}.pth")"
        [ -n "$src" ] || die "export needs det_vfn: $(run_state det_vfn)"
        "$PY" -c "import sys; from cldyn_mm.models.task_wrappers import export_task_checkpoint as e; e(sys.argv[1], sys.argv[2])" "$src" "$dst"
        log "export: $dst"
    fi
fi

# ---------------------------------------------------------------- closed loop (RSC), per seed
if has_stage closed_loop; then
    [ -f "$WORK/export/det_vfn.pth" ] || die "closed_loop needs $WORK/export/det_vfn.pth (stage export)"
    need_vfn closed_loop
    for seed in "${SEED_LIST[@]}"; do
        train "cldyn_seed$seed" "$CL_CONFIG" "$WORK/cldyn_seed$seed/iter_${CL_ITERS}.pth" \
            model.fuser.vfn_checkpoint="$VFN_CKPT" model.tasks.det.checkpoint="$WORK/export/det_vfn.pth" \
            train_dataloader.det.dataset.data_root="$DATA_ROOT/" train_dataloader.det.dataset.ann_file="$TRAIN_SPLIT" \
            val_dataloader.det.dataset.data_root="$DATA_ROOT/" val_dataloader.det.dataset.ann_file="$VAL_SPLIT" \
            randomness.seed="$seed" $(iter_opts cl "$CL_ITERS" "$CL_CONFIG")
    done
fi

# ---------------------------------------------------------------- control (a): detector trained further
# as many images as one closed-loop run: CL_ITERS iterations of batch 4 (rtmdet-tiny_fused-further_1xb4-150_msrs.py)
MORE_CONFIG="$CFG_DIR/rtmdet-tiny_fused-further_1xb4-150_msrs.py"
if has_stage det_vfn_more; then
    need_vfn det_vfn_more
    src="$(run_final det_vfn "$WORK/det_vfn/iter_${DET_ITERS}.pth")"
    [ -n "$src" ] || die "det_vfn_more needs det_vfn: $(run_state det_vfn)"
    train det_vfn_more "$MORE_CONFIG" "$WORK/det_vfn_more/iter_${CL_ITERS}.pth" \
        model.mode=vfn model.fuser_checkpoint="$VFN_CKPT" load_from="$src" \
        $(data_opts "$DATA_ROOT" "$TRAIN_SPLIT" "$VAL_SPLIT") \
        $(iter_opts more "$CL_ITERS" "$MORE_CONFIG")
fi

# ---------------------------------------------------------------- evaluation helpers
# det_eval CONFIG CKPT OUT ROOT LIST DUMP(yes|no) cfg-options...: tools/test.py through
# msrs_det_eval.py
det_eval() {
    local config="$1" ckpt="$2" out="$3" root="$4" list="$5" dump="$6"; shift 6
    local args=("$config" "$ckpt" --out "$out")
    # IR | VIS | VFN | CLDyN panels cost one forward per tile: drawn for the val evaluations of
    # the main modes (every MSRS_DET_PANEL_EVERY-th pair, default every pair), not for the
    # per-seed evaluations nor select's train-split scoring (DET_EVAL_PANELS=no)
    local panel_opts=()
    if [ "${DET_EVAL_PANELS:-yes}" = yes ]; then
        args+=(--show-dir "$out/panels")
        panel_opts=(default_hooks.visualization.interval="${MSRS_DET_PANEL_EVERY:-1}")
    fi
    [ "$dump" = yes ] && args+=(--dump-fused)
    local name; name="$(basename "$(dirname "$out")")_$(basename "$out")"
    "$PY" tools/experiments/msrs_det_eval.py "${args[@]}" --cfg-options "$@" \
        test_dataloader.dataset.data_root="$root/" test_dataloader.dataset.ann_file="$list" \
        test_evaluator.outfile_prefix="$out/coco" "${panel_opts[@]}" "${EXTRA[@]}" \
        > "$WORK/logs/$name.log" 2>&1 || die "$name: FAILED, see $WORK/logs/$name.log"
    log "$name: $(tail -1 "$WORK/logs/$name.log")"
}

same_eval() {  # same_eval METRICS_JSON ROOT LIST: was it evaluated on ROOT and LIST?
    "$PY" -c "import json,sys; m = json.load(open(sys.argv[1])); sys.exit(0 if (m.get('data_root'), m.get('ann_file')) == (sys.argv[2], sys.argv[3]) else 1)" "$@"
}

# zoo_plan MODE ROOT: mode_plan for --weights zoo: the shipped CLDyN detection model's frozen
# detector on VIS / IR / VFN / CLDyN images, the shipped SeAFusion detector on SeAFusion's
zoo_plan() {
    local mode="$1" root="$2" entry
    PLAN_CFG="" PLAN_CKPT="" PLAN_OPTS=() PLAN_DUMP=no PLAN_WHY=""
    case "$mode" in
        vis|ir|vfn|cldyn) entry="$(zoo_model "$ZOO_CLDYN")"; PLAN_OPTS=(model.mode=$mode)
            case "$mode" in vfn|cldyn) PLAN_DUMP=yes ;; esac ;;
        seafusion) entry="$(zoo_model "$ZOO_SEAFUSION")"
            [ -d "$root/$SEAFUSION_DIR" ] || PLAN_WHY="no $root/$SEAFUSION_DIR"
            PLAN_OPTS=(model.mode=vis $(seafusion_opts test)) ;;
        *) die "--weights zoo evaluates the modes vis, ir, vfn, cldyn, seafusion; got $mode" ;;
    esac
    PLAN_CFG="$(cut -f1 <<< "$entry")" PLAN_CKPT="$(cut -f2 <<< "$entry")"
    return 0
}

# mode_plan MODE ROOT: sets PLAN_CFG, PLAN_CKPT, PLAN_OPTS, PLAN_DUMP, PLAN_WHY (non-empty:
# cannot run)
mode_plan() {
    local mode="$1" root="$2" det cl
    [ "$WEIGHTS" = zoo ] && { zoo_plan "$@"; return 0; }
    PLAN_CFG="$CFG_DIR/rtmdet-tiny_fused-eval_msrs.py" PLAN_CKPT="" PLAN_OPTS=() PLAN_DUMP=no PLAN_WHY=""
    case "$mode" in
        vis|ir)
            det="det_$mode"; PLAN_OPTS=(model.mode=$mode) ;;
        frozen_vis|frozen_ir)
            det=det_vfn; PLAN_OPTS=(model.mode=${mode#frozen_}) ;;
        vfn|vfn_more)
            det=$( [ $mode = vfn ] && echo det_vfn || echo det_vfn_more )
            PLAN_OPTS=(model.mode=vfn model.fuser.vfn_checkpoint="$VFN_CKPT"); PLAN_DUMP=yes
            [ -n "$VFN_CKPT" ] || PLAN_WHY="no VFN: $(run_state vfn)" ;;
        seafusion)
            det=det_seafusion; PLAN_OPTS=(model.mode=vis $(seafusion_opts test))
            [ -d "$root/$SEAFUSION_DIR" ] || PLAN_WHY="no $root/$SEAFUSION_DIR" ;;
        cldyn|cldyn_seed*)
            det=det_vfn; PLAN_DUMP=yes
            if [ "$mode" = cldyn ]; then
                [ -f "$WORK/cldyn_selected" ] && cl="$(cut -f2 "$WORK/cldyn_selected")" \
                    || PLAN_WHY="no selected closed-loop seed ($WORK/cldyn_selected; stage select)"
            else
                cl="$(run_final "$mode")"; [ -n "$cl" ] || PLAN_WHY="$mode: $(run_state "$mode")"
            fi
            [ -n "$VFN_CKPT" ] || PLAN_WHY="no VFN: $(run_state vfn)"
            # a closed-loop checkpoint loads as the fuser checkpoint (its fuser.* part); the
            # run's last iteration, never best.pth (picked on the validation split)
            PLAN_OPTS=(model.mode=cldyn model.fuser.vfn_checkpoint="$VFN_CKPT" model.fuser_checkpoint="${cl:-}") ;;
        *) die "unknown eval mode $mode (see --help)" ;;
    esac
    if [ -z "$PLAN_WHY" ]; then
        PLAN_CKPT="$(run_final "$det" "$WORK/$det/iter_${DET_ITERS}.pth")"
        [ -n "$PLAN_CKPT" ] || PLAN_WHY="$det: $(run_state "$det")"
    fi
    return 0
}

# ---------------------------------------------------------------- select (closed-loop seed)
# the seed whose CLDyN fusion is median (mAP@[.5:.95]) on the TRAIN split: never picked on val
select_metrics() {  # select_metrics SEED: WORK/select/cldyn_seed<SEED>/metrics.json, made once
    local seed="$1" ck out
    ck="$(run_final "cldyn_seed$seed")"
    [ -n "$ck" ] || die "select needs cldyn_seed$seed: $(run_state "cldyn_seed$seed")"
    out="$WORK/select/cldyn_seed$seed"
    if [ ! -f "$out/metrics.json" ]; then
        mode_plan "cldyn_seed$seed" "$DATA_ROOT"
        [ -z "$PLAN_WHY" ] || die "select: $PLAN_WHY"
        log "select: cldyn_seed$seed on the train split"
        DET_EVAL_PANELS=no det_eval "$PLAN_CFG" "$PLAN_CKPT" "$out" "$DATA_ROOT" "$TRAIN_SPLIT" no \
            "${PLAN_OPTS[@]}"
    fi
}
if has_stage select_eval; then
    for seed in "${SEED_LIST[@]}"; do select_metrics "$seed"; done
fi
if has_stage select; then
    if [ -f "$WORK/cldyn_selected" ]; then
        log "select: done (seed $(cut -f1 "$WORK/cldyn_selected"))"
    else
        rows=()
        for seed in "${SEED_LIST[@]}"; do
            ck="$(run_final "cldyn_seed$seed")"
            [ -n "$ck" ] || die "select needs cldyn_seed$seed: $(run_state "cldyn_seed$seed")"
            if [ ${#SEED_LIST[@]} -eq 1 ]; then rows+=("$seed	$ck	-"); break; fi
            select_metrics "$seed"
            m="$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['metrics']['coco/bbox_mAP'])" "$WORK/select/cldyn_seed$seed/metrics.json")"
            rows+=("$seed	$ck	$m")
        done
        # median by mAP (lower middle for an even count; ties: the smaller seed)
        mkdir -p "$WORK/select"
        printf '%s\n' "${rows[@]}" | sort -t$'\t' -k3,3g -k1,1n > "$WORK/select/ranking.tsv"
        n=${#rows[@]}
        sed -n "$(( (n + 1) / 2 ))p" "$WORK/select/ranking.tsv" > "$WORK/cldyn_selected"
        log "select: seed $(cut -f1 "$WORK/cldyn_selected") (train mAP $(cut -f3 "$WORK/cldyn_selected"); ranking in $WORK/select/ranking.tsv)"
    fi
fi

# ---------------------------------------------------------------- evaluation
if has_stage eval; then
    if [ "$EVAL_ROOT" != "$DATA_ROOT" ]; then
        if [ -n "$EVAL_LIST" ]; then
            "$PY" tools/experiments/msrs_split.py --data-root "$EVAL_ROOT" --val "$EVAL_LIST" --eval-only --out "$WORK/splits_eval"
        else
            mkdir -p "$WORK/splits"
            ls "$EVAL_ROOT/ir" | sed 's/\.[^.]*$//' | sort > "$WORK/splits/eval_all.txt"
            EVAL_LIST="$WORK/splits/eval_all.txt"
        fi
    fi
    if [ -n "$EVAL_MODES" ]; then
        modes=(${EVAL_MODES//,/ }); required=("${modes[@]}")
    elif [ "$WEIGHTS" = zoo ]; then
        modes=(vis ir vfn cldyn seafusion); required=(vis ir vfn cldyn)
    else
        required=(vis ir vfn cldyn)
        modes=(vis ir vfn cldyn frozen_vis frozen_ir vfn_more seafusion)
        [ ${#SEED_LIST[@]} -gt 1 ] && for seed in "${SEED_LIST[@]}"; do modes+=("cldyn_seed$seed"); done
    fi
    for mode in "${modes[@]}"; do
        out="$WORK/eval/$mode"
        if [ -f "$out/metrics.json" ]; then
            if same_eval "$out/metrics.json" "$EVAL_ROOT/" "$EVAL_LIST"; then
                log "eval $mode: done ($out/metrics.json)"; continue
            fi
            log "eval $mode: $out holds another root or list, evaluating again"; rm -rf "$out"
        fi
        mode_plan "$mode" "$EVAL_ROOT"
        if [ -n "$PLAN_WHY" ]; then
            if [[ " ${required[*]} " == *" $mode "* ]]; then die "eval $mode cannot run: $PLAN_WHY"; fi
            log "eval $mode: skipped ($PLAN_WHY)"; continue
        fi
        log "eval $mode: $EVAL_ROOT ($EVAL_LIST)"
        panels=yes
        [[ "$mode" == cldyn_seed* ]] && panels=no  # the seeds' spread; the panels are cldyn's
        DET_EVAL_PANELS=$panels det_eval "$PLAN_CFG" "$PLAN_CKPT" "$out" "$EVAL_ROOT" "$EVAL_LIST" \
            "$PLAN_DUMP" "${PLAN_OPTS[@]}"
    done
fi

# ---------------------------------------------------------------- fusion metrics
# VFN_full: tools/fuse.py at the pairs' full size (640x480 for MSRS); VFN_det / CLDyN_det: the
# images the detector saw (fused at the detector's input size, written by the eval stage at the
# original size), so VFN and CLDyN are compared at the same resolution.
if has_stage fusion; then
    [ -z "$EVAL_LIST" ] && EVAL_LIST="$VAL_SPLIT"
    fdir="$WORK/fusion"
    fused=() names=()
    mkdir -p "$fdir/src/ir" "$fdir/src/vi"
    while read -r s; do
        [ -z "$s" ] && continue
        for m in ir vi; do
            f=$(ls "$EVAL_ROOT/$m/$s".* | head -1)
            ln -sf "$f" "$fdir/src/$m/"
        done
    done < "$EVAL_LIST"
    if [ -n "$VFN_CKPT" ] && [ -f "$VFN_CKPT" ]; then
        log "fusion: VFN images of $(wc -l < "$EVAL_LIST") pairs at full size"
        # tools/fuse.py skips images already written, so this resumes
        "$PY" tools/fuse.py "$CFG_DIR/vfn_1xb8-500_msrs.py" "$VFN_CKPT" --ir "$fdir/src/ir" --vi "$fdir/src/vi" \
            --out "$fdir/vfn_full" --no-progress > "$WORK/logs/fuse_vfn.log" 2>&1 \
            || { log "fusion: tools/fuse.py FAILED, see $WORK/logs/fuse_vfn.log"; exit 1; }
        fused+=(--fused "$fdir/vfn_full") names+=(VFN_full)
    fi
    if [ -d "$EVAL_ROOT/$SEAFUSION_DIR" ]; then  # the published baseline, at full size too
        mkdir -p "$fdir/seafusion"
        while read -r s; do
            [ -z "$s" ] && continue
            f=$(ls "$EVAL_ROOT/$SEAFUSION_DIR/$s".* 2>/dev/null | head -1)
            [ -n "$f" ] || die "fusion: no SeAFusion image for $s in $EVAL_ROOT/$SEAFUSION_DIR"
            ln -sf "$f" "$fdir/seafusion/"
        done < "$EVAL_LIST"
        fused+=(--fused "$fdir/seafusion") names+=(SeAFusion)
    fi
    for mode in vfn cldyn; do
        upper=$( [ $mode = vfn ] && echo VFN || echo CLDyN )
        [ -d "$WORK/eval/$mode/fused" ] && { fused+=(--fused "$WORK/eval/$mode/fused"); names+=("${upper}_det"); }
    done
    if [ ${#names[@]} -eq 0 ]; then
        log "fusion: no fused images yet (stages vfn / eval), skipped"
    elif [ -f "$fdir/metrics/summary.csv" ] && [ "$(cat "$fdir/metrics/methods.txt" 2>/dev/null)" = "${names[*]}" ]; then
        log "fusion: done ($fdir/metrics, ${names[*]})"
    else
        log "fusion: metrics of ${names[*]}"
        "$PY" tools/analysis_tools/eval_fusion.py --ir "$fdir/src/ir" --vi "$fdir/src/vi" "${fused[@]}" \
            --names "${names[@]}" --out "$fdir/metrics" --threads "$THREADS" --no-progress \
            > "$WORK/logs/eval_fusion.log" 2>&1 || { log "fusion: FAILED, see $WORK/logs/eval_fusion.log"; exit 1; }
        echo "${names[*]}" > "$fdir/metrics/methods.txt"
        log "fusion: $fdir/metrics/summary.md"
    fi
fi

# ---------------------------------------------------------------- report
if has_stage report; then
    "$PY" tools/experiments/msrs_det_report.py "$WORK" > "$WORK/results.md"
    cat "$WORK/results.md"
fi
log "stages $STAGES finished"
