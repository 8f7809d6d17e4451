# Stage 1.5: train RTMDet-tiny on fused images of the demo data (VFN-fused, or VIS / IR alone for
# comparison), validated with mmdet's CocoMetric.
#   python tools/train.py configs/tasks/demo_det_train_fused.py \
#       --cfg-options model.fuser_checkpoint=work_dirs/vfn/iter_XXXX.pth   # mode vfn
#   python tools/train.py configs/tasks/demo_det_train_fused.py --cfg-options model.mode=vis
# model.mode: 'vis' | 'ir' | 'vfn'. The fuser (a VFN training checkpoint) is frozen; only the
# task network trains. Checkpoint keys: fuser.*, adapter.model.* (load into the fused wrapper,
# configs/tasks/demo_det_fused.py, as they are); for the frozen task adapter's
# `checkpoint=`: cldyn_mm.models.task_wrappers.export_task_checkpoint(CKPT, OUT) (see
# docs/task_wrappers.md). model.pretrained_init=True also applies the network's 'Pretrained' init_cfg
# (e.g. an ImageNet-pretrained backbone; a download).
_base_ = [
    '../_base_/datasets/demo_det.py',
    '../_base_/task_models/rtmdet_tiny_adapter.py',
    '../_base_/default_runtime.py',
]

model = dict(
    type='TrainableFusedDetector',
    mode='vfn',
    data_preprocessor=dict(type='FusedTaskDataPreprocessor'),
    fuser=dict(type='VFNFuser', fusion_net=dict(type='VFN', channels=8, num_blocks=4)),
    fuser_checkpoint=None,  # a VFN training checkpoint (needed for mode='vfn')
    init_task_weights=True,  # the network's own init; Pretrained (download) entries skipped
    task_adapter={{_base_.det_task_adapter}})

train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
train_cfg = dict(type='IterBasedTrainLoop', max_iters=2000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=False, begin=100, end=2000, eta_min=1e-5),
]

# the default runtime's hooks without its FusionVisualizationHook (which draws fuser
# outputs, not task predictions)
default_hooks = dict(
    _delete_=True,
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=500, by_epoch=False, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'))
