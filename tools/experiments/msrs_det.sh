#!/usr/bin/env bash
# The msrs_det experiment (docs/experiments/msrs_det.md): does CLDyN's compensation help a
# detector on real MSRS pairs?  Stages, in order:
#   split        check the train / val stem lists, write the ones used to WORK/splits/
#   vfn          train VFN on the train pairs                       -> WORK/vfn/iter_<N>.pth
#   det_vfn      RTMDet-tiny on VFN-fused images (stage 1.5)       -> WORK/det_vfn/iter_<M>.pth
#   det_vis      the same detector on visible images only          -> WORK/det_vis/...
#   det_ir       the same detector on infrared images only         -> WORK/det_ir/...
#   export       detector checkpoints for a frozen task adapter    -> WORK/export/det_<mode>.pth
#   closed_loop  CLDyN's RSC for the frozen VFN-fused detector     -> WORK/cldyn/iter_<K>.pth
#   eval         mAP@[.5:.95] / mAP@.5 on the val (or --eval-root) pairs for VIS, IR, VFN,
#                CLDyN                                              -> WORK/eval/<mode>/metrics.json
#   fusion       fusion metrics of the VFN (and CLDyN) images      -> WORK/fusion/
#   report       results table                                     -> WORK/results.md
# Every stage skips when its final output exists and resumes training from the last checkpoint
# otherwise (tools/train.py --resume), so rerunning the script continues where it stopped.
#
# Usage (from anywhere; paths may be relative to the current directory):
#   tools/experiments/msrs_det.sh [--data-root DIR] [--work-dir DIR] [--stage S[,S...]]
#       [--train-list FILE] [--val-list FILE] [--eval-root DIR] [--eval-list FILE]
#       [--vfn-iters N] [--det-iters N] [--cl-iters N] [--threads N] [--python PY]
#       [--cfg-options K=V ...]   (appended to every training / test command)
# Defaults: --data-root ../shared/data/det/MSRS next to the repository, the fixed split of
# configs/experiments/msrs_det/splits/, --work-dir work_dirs/msrs_det, --stage all
# (= split,vfn,det_vfn,det_vis,det_ir,export,closed_loop,eval,fusion,report; 'train' =
# split,vfn,det_vfn,det_vis,det_ir), iterations as in the configs, 1 torch thread.
# Another data root with the same layout (ir/, vi/, classes.txt, labels_yolo/fusion/): give
# --val-list (its test stems); without --train-list the other pairs of the root train.
# --eval-root / --eval-list evaluate the trained networks on a further root (e.g. a held-out
# copy of MSRS) without training on it.
set -euo pipefail

# MSRS_DET_REPO: the repository, when this script runs from a copy
REPO="${MSRS_DET_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
CFG_DIR="$REPO/configs/experiments/msrs_det"

abspath() { python3 -c 'import os,sys; print(os.path.abspath(sys.argv[1]))' "$1"; }

DATA_ROOT="$REPO/../shared/data/det/MSRS"
WORK="$REPO/work_dirs/msrs_det"
TRAIN_LIST=""
VAL_LIST=""
EVAL_ROOT=""
EVAL_LIST=""
STAGES="all"
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
        --stage|--stages) STAGES="$2"; shift 2 ;;
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

if [ -z "$PY" ]; then
    if [ -x "$REPO/.venv/bin/python" ]; then PY="$REPO/.venv/bin/python"; else PY=python; fi
fi
DATA_ROOT="$(abspath "$DATA_ROOT")"
WORK="$(abspath "$WORK")"
[ -n "$TRAIN_LIST" ] && TRAIN_LIST="$(abspath "$TRAIN_LIST")"
[ -n "$VAL_LIST" ] && VAL_LIST="$(abspath "$VAL_LIST")"
[ -n "$EVAL_ROOT" ] && EVAL_ROOT="$(abspath "$EVAL_ROOT")"
[ -n "$EVAL_LIST" ] && EVAL_LIST="$(abspath "$EVAL_LIST")"
if [ -z "$VAL_LIST" ]; then
    VAL_LIST="$CFG_DIR/splits/val.txt"
    [ -z "$TRAIN_LIST" ] && TRAIN_LIST="$CFG_DIR/splits/train.txt"
fi
[ -z "$EVAL_ROOT" ] && EVAL_ROOT="$DATA_ROOT"
if [ -z "$EVAL_LIST" ]; then
    if [ "$EVAL_ROOT" = "$DATA_ROOT" ]; then EVAL_LIST="$WORK/splits/val.txt"; else EVAL_LIST=""; fi
fi
case "$STAGES" in
    all) STAGES="split,vfn,det_vfn,det_vis,det_ir,export,closed_loop,eval,fusion,report" ;;
    train) STAGES="split,vfn,det_vfn,det_vis,det_ir" ;;
esac

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS"
mkdir -p "$WORK/logs"
cd "$REPO"

log() { echo "[msrs_det $(date '+%F %T')] $*"; }
has_stage() { [[ ",$STAGES," == *",$1,"* ]]; }
cfg_value() {  # cfg_value CONFIG EXPR  (EXPR in terms of the loaded config `c`)
    "$PY" -c "import sys; from mmengine.config import Config; c = Config.fromfile(sys.argv[1]); print($2)" "$1"
}

VFN_ITERS="${VFN_ITERS:-$(cfg_value "$CFG_DIR/vfn_msrs.py" c.train_cfg.max_iters)}"
DET_ITERS="${DET_ITERS:-$(cfg_value "$CFG_DIR/det_train.py" c.train_cfg.max_iters)}"
VFN_CKPT="$WORK/vfn/iter_${VFN_ITERS}.pth"
TRAIN_SPLIT="$WORK/splits/train.txt"
VAL_SPLIT="$WORK/splits/val.txt"

# schedule overrides only when an iteration count was given explicitly (tests, other budgets)
iter_opts() {  # iter_opts KIND N: cfg-options for a shorter / longer schedule
    local kind="$1" n="$2" conf="$3" base
    base="$(cfg_value "$conf" c.train_cfg.max_iters)"
    [ "$n" = "$base" ] && return 0
    local ck=$(( n < 100 ? n : 100 ))
    echo "train_cfg.max_iters=$n default_hooks.checkpoint.interval=$ck"
    case "$kind" in
        vfn) echo "train_cfg.val_interval=$n" ;;
        det) local w=$(( n / 10 > 1 ? n / 10 : 1 ))
             echo "train_cfg.val_interval=$n param_scheduler.0.end=$w param_scheduler.1.begin=$w param_scheduler.1.end=$n" ;;
    esac
}

# train NAME CONFIG FINAL_CKPT cfg-options...: skip when FINAL_CKPT exists, else (re)start or
# resume from the work dir's last checkpoint
train() {
    local name="$1" config="$2" final="$3"; shift 3
    local wd="$WORK/$name"
    if [ -f "$final" ]; then log "$name: done ($final)"; return 0; fi
    local resume=()
    if [ -f "$wd/last_checkpoint" ]; then resume=(--resume); log "$name: resuming in $wd"; else log "$name: training in $wd"; fi
    local t0=$SECONDS
    "$PY" tools/train.py "$config" --work-dir "$wd" "${resume[@]}" --cfg-options "$@" "${EXTRA[@]}" \
        > "$WORK/logs/$name.log" 2>&1 || { log "$name: FAILED, see $WORK/logs/$name.log"; tail -20 "$WORK/logs/$name.log" >&2; exit 1; }
    [ -f "$final" ] || { log "$name: finished without $final"; exit 1; }
    echo "$name $(( SECONDS - t0 ))" >> "$WORK/logs/times.txt"
    log "$name: done in $(( SECONDS - t0 )) s -> $final"
}

data_opts() {  # data_opts ROOT TRAIN_LIST VAL_LIST: dataloader overrides
    local root="$1/" tr="$2" va="$3"
    echo "train_dataloader.dataset.data_root=$root train_dataloader.dataset.ann_file=$tr"
    echo "val_dataloader.dataset.data_root=$root val_dataloader.dataset.ann_file=$va"
    echo "test_dataloader.dataset.data_root=$root test_dataloader.dataset.ann_file=$va"
}

# ---------------------------------------------------------------- split
if has_stage split || [ ! -f "$TRAIN_SPLIT" ] || [ ! -f "$VAL_SPLIT" ]; then
    log "split: $DATA_ROOT"
    args=(--data-root "$DATA_ROOT" --val "$VAL_LIST" --out "$WORK/splits")
    [ -n "$TRAIN_LIST" ] && args+=(--train "$TRAIN_LIST")
    "$PY" tools/experiments/msrs_split.py "${args[@]}"
fi

# ---------------------------------------------------------------- vfn
if has_stage vfn; then
    train vfn "$CFG_DIR/vfn_msrs.py" "$VFN_CKPT" \
        $(data_opts "$DATA_ROOT" "$TRAIN_SPLIT" "$VAL_SPLIT") \
        $(iter_opts vfn "$VFN_ITERS" "$CFG_DIR/vfn_msrs.py")
fi

# ---------------------------------------------------------------- detectors (stage 1.5)
for mode in vfn vis ir; do
    has_stage "det_$mode" || continue
    extra=(model.mode=$mode)
    if [ "$mode" = vfn ]; then
        [ -f "$VFN_CKPT" ] || { log "det_vfn needs $VFN_CKPT (stage vfn)"; exit 1; }
        extra+=(model.fuser_checkpoint="$VFN_CKPT")
    fi
    train "det_$mode" "$CFG_DIR/det_train.py" "$WORK/det_$mode/iter_${DET_ITERS}.pth" "${extra[@]}" \
        $(data_opts "$DATA_ROOT" "$TRAIN_SPLIT" "$VAL_SPLIT") \
        $(iter_opts det "$DET_ITERS" "$CFG_DIR/det_train.py")
done

# ---------------------------------------------------------------- export
if has_stage export; then
    mkdir -p "$WORK/export"
    for mode in vfn vis ir; do
        src="$WORK/det_$mode/iter_${DET_ITERS}.pth" dst="$WORK/export/det_$mode.pth"
        [ -f "$dst" ] && { log "export $mode: done ($dst)"; continue; }
        [ -f "$src" ] || { log "export $mode: no $src, skipped"; continue; }
        "$PY" -c "import sys; from cldyn_mm.models.task_wrappers import export_task_checkpoint as e; e(sys.argv[1], sys.argv[2])" "$src" "$dst"
        log "export $mode: $dst"
    done
fi

# ---------------------------------------------------------------- closed loop (RSC)
CL_CONFIG="$CFG_DIR/cldyn_msrs_det.py"
CL_CKPT=""
if [ -f "$CL_CONFIG" ]; then
    CL_ITERS="${CL_ITERS:-$(cfg_value "$CL_CONFIG" c.train_cfg.max_iters)}"
    CL_CKPT="$WORK/cldyn/iter_${CL_ITERS}.pth"
fi
if has_stage closed_loop; then
    if [ -z "$CL_CKPT" ]; then
        log "closed_loop: $CL_CONFIG does not exist yet, skipped"
    else
        [ -f "$WORK/export/det_vfn.pth" ] || { log "closed_loop needs $WORK/export/det_vfn.pth (stage export)"; exit 1; }
        cl_opts=()
        base="$(cfg_value "$CL_CONFIG" c.train_cfg.max_iters)"
        [ "$CL_ITERS" != "$base" ] && cl_opts+=(train_cfg.max_iters="$CL_ITERS" train_cfg.val_interval="$CL_ITERS" default_hooks.checkpoint.interval="$CL_ITERS")
        train cldyn "$CL_CONFIG" "$CL_CKPT" \
            model.fuser.vfn_checkpoint="$VFN_CKPT" model.tasks.det.checkpoint="$WORK/export/det_vfn.pth" \
            train_dataloader.det.dataset.data_root="$DATA_ROOT/" train_dataloader.det.dataset.ann_file="$TRAIN_SPLIT" \
            val_dataloader.det.dataset.data_root="$DATA_ROOT/" val_dataloader.det.dataset.ann_file="$VAL_SPLIT" \
            "${cl_opts[@]}"
    fi
fi

# ---------------------------------------------------------------- evaluation
if has_stage eval; then
    if [ "$EVAL_ROOT" != "$DATA_ROOT" ]; then
        if [ -n "$EVAL_LIST" ]; then
            "$PY" tools/experiments/msrs_split.py --data-root "$EVAL_ROOT" --val "$EVAL_LIST" --eval-only --out "$WORK/splits_eval"
        else
            ls "$EVAL_ROOT/ir" | sed 's/\.[^.]*$//' | sort > "$WORK/splits/eval_all.txt"
            EVAL_LIST="$WORK/splits/eval_all.txt"
        fi
    fi
    eval_data=(test_dataloader.dataset.data_root="$EVAL_ROOT/" test_dataloader.dataset.ann_file="$EVAL_LIST")
    for mode in vis ir vfn cldyn; do
        out="$WORK/eval/$mode"
        [ -f "$out/metrics.json" ] && { log "eval $mode: done ($out/metrics.json)"; continue; }
        case "$mode" in
            vis|ir) ckpt="$WORK/det_$mode/iter_${DET_ITERS}.pth"; opts=(model.mode=$mode) ;;
            vfn) ckpt="$WORK/det_vfn/iter_${DET_ITERS}.pth"; opts=(model.mode=vfn model.fuser.vfn_checkpoint="$VFN_CKPT") ;;
            cldyn)
                ckpt="$WORK/det_vfn/iter_${DET_ITERS}.pth"
                [ -n "$CL_CKPT" ] && [ -f "$CL_CKPT" ] || { log "eval cldyn: no closed-loop checkpoint yet, skipped"; continue; }
                # a closed-loop checkpoint loads as the fuser checkpoint (its fuser.* part); the
                # last iteration's, not best.pth (picked on this same val split)
                opts=(model.mode=cldyn model.fuser.vfn_checkpoint="$VFN_CKPT" model.fuser_checkpoint="$CL_CKPT") ;;
        esac
        [ -f "$ckpt" ] || { log "eval $mode: no $ckpt, skipped"; continue; }
        log "eval $mode: $EVAL_ROOT ($EVAL_LIST)"
        dump=()
        case "$mode" in vfn|cldyn) dump=(--dump-fused) ;; esac
        "$PY" tools/experiments/msrs_det_eval.py "$CFG_DIR/det_eval.py" "$ckpt" --out "$out" \
            --show-dir "$out/panels" "${dump[@]}" --cfg-options "${opts[@]}" "${eval_data[@]}" "${EXTRA[@]}" \
            > "$WORK/logs/eval_$mode.log" 2>&1 || { log "eval $mode: FAILED, see $WORK/logs/eval_$mode.log"; exit 1; }
        log "eval $mode: $(tail -1 "$WORK/logs/eval_$mode.log")"
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
    if [ -f "$VFN_CKPT" ]; then
        mkdir -p "$fdir/src/ir" "$fdir/src/vi"
        while read -r s; do
            [ -z "$s" ] && continue
            for m in ir vi; do
                f=$(ls "$EVAL_ROOT/$m/$s".* | head -1)
                ln -sf "$f" "$fdir/src/$m/"
            done
        done < "$EVAL_LIST"
        log "fusion: VFN images of $(wc -l < "$EVAL_LIST") pairs at full size"
        # tools/fuse.py skips images already written, so this resumes
        "$PY" tools/fuse.py "$CFG_DIR/vfn_msrs.py" "$VFN_CKPT" --ir "$fdir/src/ir" --vi "$fdir/src/vi" \
            --out "$fdir/vfn_full" --no-progress > "$WORK/logs/fuse_vfn.log" 2>&1 \
            || { log "fusion: tools/fuse.py FAILED, see $WORK/logs/fuse_vfn.log"; exit 1; }
        fused+=(--fused "$fdir/vfn_full") names+=(VFN_full)
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
        "$PY" tools/eval_fusion.py --ir "$fdir/src/ir" --vi "$fdir/src/vi" "${fused[@]}" \
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
