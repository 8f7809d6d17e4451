# CLDyN closed loop for detection on MSRS (person, bicycle, car; 640x480 IR/VIS pairs):
# RSC + bank learn to compensate the VFN fusion for a frozen RTMDet-tiny trained on VFN-fused
# images (stage 1.5, e.g. configs/experiments/msrs_det/rtmdet-tiny_fused_1xb4-1200_msrs.py).
# Spec section 4: Adam lr 0.01, batch 4, reward-penalty loss (w = 5); one task, so the applied
# gradient is the detection gradient.
#   python tools/train.py configs/cldyn_msrs_det.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.det.checkpoint=DET.pth \
#       train_dataloader.det.dataset.data_root=../shared/data/det/MSRS/ \
#       val_dataloader.det.dataset.data_root=../shared/data/det/MSRS/
# DET.pth: the detector alone (export_task_checkpoint of the stage-1.5 run, see
# docs/task_wrappers.md). Kept: <work_dir>/best.pth (best mAP); evaluate it with
# configs/experiments/msrs_det/rtmdet-tiny_fused-eval_msrs.py in mode 'cldyn'
# (model.fuser_checkpoint=best.pth).
_base_ = ['./_base_/closed_loop/msrs_det.py']

# about 50 epochs of the ~155 training pairs at batch 4
train_cfg = dict(max_iters=2000, val_interval=250)
default_hooks = dict(checkpoint=dict(interval=250))
