# CLDyN closed loop for three tasks at once (the paper's setting): M3FD detection, FMB
# segmentation and VT5000 saliency, each with its own dataloader and frozen task network.
# Each step takes one batch per task, in this order; the three task gradients are combined with
# CAGrad weights (lam 0.5, spec section 4). The task parts are those of the single-task
# configs, read from them (one place to change a dataset or a task network):
#   python tools/train.py configs/cldyn_multitask.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.det.checkpoint=DET.pth \
#       model.tasks.seg.checkpoint=SEG.pth model.tasks.sod.checkpoint=SOD.pth \
#       train_dataloader.det.dataset.data_root=data/M3FD/ ...   (likewise seg, sod, val_*)
# best.pth: at least two tasks improved and none more than 5 % worse than its best.
_base_ = ['./_base_/closed_loop/cldyn_runtime.py']

from mmengine.config import Config as _Config  # noqa: E402

_tasks = dict(
    det=_Config.fromfile('{{ fileDirname }}/cldyn_m3fd_det.py'),
    seg=_Config.fromfile('{{ fileDirname }}/cldyn_fmb_seg.py'),
    sod=_Config.fromfile('{{ fileDirname }}/cldyn_vt5000_sod.py'))

model = dict(tasks={t: c.model.tasks[t].to_dict() for t, c in _tasks.items()})
train_dataloader = {t: c.train_dataloader[t].to_dict() for t, c in _tasks.items()}
val_dataloader = {t: c.val_dataloader[t].to_dict() for t, c in _tasks.items()}
val_evaluator = {t: c.val_evaluator[t].to_dict() for t, c in _tasks.items()}
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# 50 epochs of the largest task set (M3FD); the smaller sets cycle
train_cfg = dict(max_iters=42000, val_interval=2000)
default_hooks = dict(
    checkpoint=dict(interval=2000),
    best_checkpoint=dict(indicators={
        t: c.default_hooks.best_checkpoint.indicators[t]
        for t, c in _tasks.items()
    }))
del _Config, _tasks
