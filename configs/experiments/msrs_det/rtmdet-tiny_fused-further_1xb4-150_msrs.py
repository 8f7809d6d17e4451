# msrs_det experiment, control (a): is CLDyN's gain just more training? The VFN-fused detector
# (rtmdet-tiny_fused_1xb4-1200_msrs.py, mode vfn) trained further on VFN fusion for as many
# images as one closed-loop run sees (cldyn_rtmdet-tiny_1xb4-150_msrs.py: max_iters x batch
# 4), from its final weights:
#   python tools/train.py \
#       configs/experiments/msrs_det/rtmdet-tiny_fused-further_1xb4-150_msrs.py \
#       --work-dir W/det_vfn_more \
#       --cfg-options load_from=W/det_vfn/iter_1200.pth model.mode=vfn \
#       model.fuser_checkpoint=W/vfn/iter_500.pth
# tools/experiments/msrs_det.sh (stage det_vfn_more) sets these and the closed loop's
# iteration count. Learning rate: the cosine of rtmdet-tiny_fused_1xb4-1200_msrs.py ended at
# 2e-5; a fresh cosine from 2e-4 (a tenth of its peak) to 2e-5, no warm-up: enough to move the
# detector, gentle enough not to undo its training (AdamW restarts without its moments, as
# load_from loads weights only).
_base_ = ['./rtmdet-tiny_fused_1xb4-1200_msrs.py']

max_iters = 150  # = cldyn_rtmdet-tiny_1xb4-150_msrs.py's max_iters (batch 4 both)
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=2e-4))
param_scheduler = [
    dict(type='CosineAnnealingLR', by_epoch=False, begin=0, end=max_iters, eta_min=2e-5),
]
default_hooks = dict(checkpoint=dict(interval=50))
