# Closed loop with one task, 'sod': the frozen task network of
# configs/_base_/task_models/sod_adapter.py
# (give it the stage-1.5 checkpoint: --cfg-options model.tasks.sod.checkpoint=CKPT).
# A config adds the dataset: train_dataloader = dict(sod=...), val_dataloader = dict(sod=...),
# val_evaluator = dict(sod=...) and default_hooks.best_checkpoint.indicators.sod.
_base_ = ['../task_models/sod_adapter.py', './cldyn_runtime.py']

model = dict(tasks=dict(sod={{_base_.sod_task_adapter}}))
