# Salient object detection on fused images of the demo data: a frozen binary mmseg
# segmentor (SODTaskAdapter, ResNet-18 + FPN) evaluated by cldyn_mm's SODMetric on VIS / IR /
# VFN-fused / CLDyN-compensated images.
#   python tools/test.py configs/tasks/demo_sod_fused.py CKPT --cfg-options model.mode=ir
# model.mode: 'vis' | 'ir' | 'vfn' | 'cldyn'. Weights: model.fuser.vfn_checkpoint (a VFN
# training checkpoint), model.fuser_checkpoint (a whole CLDyNFuser / VFNFuser checkpoint),
# model.task_adapter.checkpoint (the SOD model trained on fused images); docs/task_wrappers.md.
_base_ = [
    '../_base_/datasets/demo_sod.py',
    '../_base_/task_models/sod_adapter.py',
    '../_base_/default_runtime.py',
]

# CLDyN fusion (configs/fusion/cldyn_fusion.py); without a task feature it is the plain VFN,
# so one fuser serves 'vfn' and 'cldyn'
fuser = dict(
    type='CLDyNFuser',
    fusion_net=dict(type='VFN', channels=8, num_blocks=4),
    rsc=dict(type='RSCChain', num_blocks=3, embed_dim=256, in_channels=8, filter_num=4,
             set_num=4, vector_num=32, tau=0.5, selection='hard'),
    bank=dict(type='BasisVectorBank', set_num=4, vector_num=32, embed_dim=256),
    vfn_checkpoint=None)

model = dict(
    type='FusedSegmentor',
    mode='cldyn',
    data_preprocessor=dict(type='FusedTaskDataPreprocessor'),
    fuser=fuser,
    fuser_checkpoint=None,
    task_adapter={{_base_.sod_task_adapter}})

# predictions drawn on IR | VIS | VFN | CLDyN panels (TaskVisualizationHook); off here,
# `tools/test.py ... --show-dir DIR` turns it on (draw=True, out_dir=DIR)
default_hooks = dict(
    visualization=dict(_delete_=True, type='TaskVisualizationHook', draw=False, interval=1,
                       max_per_batch=2, score_thr=0.3, draw_val=False, draw_test=True))

# evaluation only
train_dataloader = None
train_cfg = None
optim_wrapper = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
