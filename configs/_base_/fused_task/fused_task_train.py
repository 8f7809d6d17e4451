# Shared part of the stage-1.5 configs (training a task network on fused images): the frozen
# VFN fuser, a 2000-iteration AdamW schedule and the hooks. A config adds a dataset base, a
# task model base, `model.type` / `model.task_adapter` and the infinite train sampler.
_base_ = ['../default_runtime.py']

model = dict(
    mode='vfn',
    data_preprocessor=dict(type='FusedTaskDataPreprocessor'),
    fuser=dict(type='VFNFuser', fusion_net=dict(type='VFN', channels=8, num_blocks=4)),
    fuser_checkpoint=None,  # a VFN training checkpoint (needed for mode='vfn')
    init_task_weights=True)  # the network's own init; Pretrained (download) entries skipped

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
