# CLDyN closed loop on the demo data with all three tasks (detection, segmentation, saliency):
# the task parts of the single-task demo configs, combined with CAGrad weights.
#   python tools/train.py configs/demo/cldyn_demo_multitask.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.det.checkpoint=DET.pth \
#       model.tasks.seg.checkpoint=SEG.pth model.tasks.sod.checkpoint=SOD.pth
_base_ = ['../_base_/closed_loop/cldyn_runtime.py']

from mmengine.config import Config as _Config  # noqa: E402

_tasks = {
    t: _Config.fromfile(f'{{ fileDirname }}/cldyn_demo_{t}.py')
    for t in ('det', 'seg', 'sod')
}

model = dict(tasks={t: c.model.tasks[t].to_dict() for t, c in _tasks.items()})
train_dataloader = {t: c.train_dataloader[t].to_dict() for t, c in _tasks.items()}
val_dataloader = {t: c.val_dataloader[t].to_dict() for t, c in _tasks.items()}
val_evaluator = {t: c.val_evaluator[t].to_dict() for t, c in _tasks.items()}
test_dataloader = val_dataloader
test_evaluator = val_evaluator

train_cfg = dict(max_iters=200, val_interval=100)
default_hooks = dict(
    checkpoint=dict(interval=100),
    best_checkpoint=dict(indicators={
        t: c.default_hooks.best_checkpoint.indicators[t]
        for t, c in _tasks.items()
    }))
del _Config, _tasks
