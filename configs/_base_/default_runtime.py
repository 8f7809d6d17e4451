# Runtime shared by every cldyn_mm config.
default_scope = 'cldyn_mm'

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1000, by_epoch=False, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='FusionVisualizationHook', interval=1, max_per_batch=2))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

# tools/train.py adds a TensorboardVisBackend when the tensorboard package is installed.
vis_backends = [dict(type='LocalVisBackend')]
# IR | VIS | fused panels (FusionVisualizationHook -> add_datasample); task configs choose
# FusedDetVisualizer / FusedSegVisualizer (cldyn_mm/visualization/fusion_visualizer.py). No
# fixed `name`: the runner names it after the run, so every runner of a process (tests, the
# demo pipeline's evaluation) gets its own visualizer writing below its own run folder.
visualizer = dict(type='FusionVisualizer', vis_backends=vis_backends)
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=False)

log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
