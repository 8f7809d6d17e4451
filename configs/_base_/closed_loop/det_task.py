# Closed loop with one task, 'det': the frozen task network of
# configs/_base_/task_models/rtmdet_tiny_adapter.py
# (give it the stage-1.5 checkpoint: --cfg-options model.tasks.det.checkpoint=CKPT).
# A config adds the dataset: train_dataloader = dict(det=...), val_dataloader = dict(det=...),
# val_evaluator = dict(det=...) and default_hooks.best_checkpoint.indicators.det.
_base_ = ['../task_models/rtmdet_tiny_adapter.py', './cldyn_runtime.py']

model = dict(tasks=dict(det={{_base_.det_task_adapter}}))
