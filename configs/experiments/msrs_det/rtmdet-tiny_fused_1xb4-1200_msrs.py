# msrs_det experiment, stage 1.5: RTMDet-tiny (from scratch: no pretrained weights) trained on
# the MSRS train split, fed with VFN-fused (mode vfn), visible-only (vis) or infrared-only
# (ir) images; validated with CocoMetric on the val split. One config for the three detectors:
#   python tools/train.py configs/experiments/msrs_det/rtmdet-tiny_fused_1xb4-1200_msrs.py \
#       --work-dir W/det_vfn --cfg-options model.mode=vfn model.fuser_checkpoint=W/vfn/iter_500.pth
#   python tools/train.py configs/experiments/msrs_det/rtmdet-tiny_fused_1xb4-1200_msrs.py \
#       --work-dir W/det_vis --cfg-options model.mode=vis
# tools/experiments/msrs_det.sh runs them; docs/experiments/msrs_det.md explains the choices.
_base_ = [
    './_base_/msrs_det_data.py',
    '../../_base_/task_models/rtmdet_tiny_adapter.py',
    '../../_base_/fused_task/fused_task_train.py',
]

# the adapter base already has num_classes=3 (MSRS: person, bicycle, car)
model = dict(type='TrainableFusedDetector', task_adapter={{_base_.det_task_adapter}})
# batch 4 of 320x240 images: about 0.8 s (vis / ir) and 1.8 s (vfn: + the VFN forward pass)
# per iteration on one CPU thread
train_dataloader = {{_base_.det_train_dataloader}}
val_dataloader = {{_base_.det_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.det_val_evaluator}}
test_evaluator = val_evaluator

max_iters = 1200
val_interval = 400
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=max_iters, eta_min=2e-5),
]
default_hooks = dict(
    logger=dict(interval=10), checkpoint=dict(interval=200, max_keep_ckpts=2, save_last=True))
randomness = dict(seed=0)
