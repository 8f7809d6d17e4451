# Shared part of the fused task-model configs (evaluation): the fuser, the wrapper's common
# settings, the visualization hook and the test/val loops. A config adds a dataset base, a task
# model base, `model.type` / `model.task_adapter`, and `train_dataloader = None`.
_base_ = ['../../_base_/default_runtime.py']

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
    mode='cldyn',
    data_preprocessor=dict(type='FusedTaskDataPreprocessor'),
    fuser=fuser,
    fuser_checkpoint=None)

# predictions drawn on IR | VIS | VFN | CLDyN panels (TaskVisualizationHook); off here,
# `tools/test.py ... --show-dir DIR` turns it on (draw=True, out_dir=DIR)
default_hooks = dict(
    visualization=dict(_delete_=True, type='TaskVisualizationHook', draw=False, interval=1,
                       max_per_batch=2, score_thr=0.3, draw_val=False, draw_test=True))

# evaluation only
train_cfg = None
optim_wrapper = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
