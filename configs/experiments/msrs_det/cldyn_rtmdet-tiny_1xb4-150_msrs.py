# msrs_det experiment, stage 2: CLDyN's closed loop (RSC + bank) for the frozen RTMDet-tiny
# trained on VFN-fused images (rtmdet-tiny_fused_1xb4-1200_msrs.py, mode vfn), on the
# experiment's split and CPU resolution (_base_/msrs_det_data.py: 320x240, 157 train pairs);
# the project's closed-loop task base and runtime (configs/_base_/closed_loop/) as in
# configs/cldyn_msrs_det.py.
#   python tools/train.py configs/experiments/msrs_det/cldyn_rtmdet-tiny_1xb4-150_msrs.py \
#       --work-dir W/cldyn --cfg-options model.fuser.vfn_checkpoint=W/vfn/iter_500.pth \
#       model.tasks.det.checkpoint=W/export/det_vfn.pth
# The evaluation takes the last checkpoint (iter_<max_iters>.pth), not best.pth: best.pth is
# chosen on the validation split, which is also the test split here.
_base_ = ['./_base_/msrs_det_data.py', '../../_base_/closed_loop/det_task.py']

model = dict(tasks=dict(det=dict(model_overrides=dict(bbox_head=dict(num_classes=3)))))

train_dataloader = dict(det={{_base_.det_train_dataloader}})
val_dataloader = dict(det={{_base_.det_val_dataloader}})
val_evaluator = dict(det={{_base_.det_val_evaluator}})
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# Spec: batch 4, 50 epochs (about 2,000 iterations here). On 2 CPU cores an iteration at
# 320x240, batch 4, takes about 10 s, so the experiment runs 150 (about 4 epochs).
train_cfg = dict(max_iters=150, val_interval=50)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=50, max_keep_ckpts=4),
    best_checkpoint=dict(indicators=dict(det='coco/bbox_mAP')))
randomness = dict(seed=0)
