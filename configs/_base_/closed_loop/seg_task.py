# Closed loop with one task, 'seg': the frozen task network of
# configs/_base_/task_models/segformer_b0_adapter.py
# (give it the stage-1.5 checkpoint: --cfg-options model.tasks.seg.checkpoint=CKPT).
# A config adds the dataset: train_dataloader = dict(seg=...), val_dataloader = dict(seg=...),
# val_evaluator = dict(seg=...) and default_hooks.best_checkpoint.indicators.seg.
_base_ = ['../task_models/segformer_b0_adapter.py', './cldyn_runtime.py']

model = dict(tasks=dict(seg={{_base_.seg_task_adapter}}))
