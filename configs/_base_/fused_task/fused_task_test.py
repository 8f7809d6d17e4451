# Shared part of the fused task-model configs (evaluation): the fuser, the wrapper's common
# settings, the visualization hook and the test/val loops. A config adds a dataset base, a task
# model base, `model.type` / `model.task_adapter`, and `train_dataloader = None`.
_base_ = ['../default_runtime.py', '../models/cldyn_fuser.py']

model = dict(
    mode='cldyn',
    data_preprocessor=dict(type='FusedTaskDataPreprocessor'),
    # CLDyN fusion; without a task feature it is the plain VFN, so one fuser serves 'vfn' and
    # 'cldyn'
    fuser={{_base_.cldyn_fuser}},
    fuser_checkpoint=None)

# predictions drawn on IR | VIS | VFN | CLDyN panels (TaskVisualizationHook, which hands the
# samples to the visualizer: FusionVisualizer draws any task's predictions, a config may pick
# FusedDetVisualizer / FusedSegVisualizer); off here, `tools/test.py ... --show-dir DIR`
# turns it on (draw=True, out_dir=DIR)
default_hooks = dict(
    visualization=dict(
        _delete_=True,
        type='TaskVisualizationHook',
        draw=False,
        interval=1,
        max_per_batch=2,
        score_thr=0.3,
        draw_val=False,
        draw_test=True))

# evaluation only
train_cfg = None
optim_wrapper = None
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
