# VT5000 salient object detection as the closed loop's task 'sod': the frozen saliency network of
# sod_task.py, fed and scored by the dataloaders and evaluator of
# configs/_base_/datasets/vt5000_sod.py. A leaf config adds the schedule; the multi-task configs
# compose the dataset and task-model bases themselves.
_base_ = ['../datasets/vt5000_sod.py', './sod_task.py']

# as the single-task VT5000 config always had it: a DefaultSampler (the base's is infinite)
train_dataloader = dict(
    sod=dict(
        batch_size=4,
        num_workers=2,
        persistent_workers=True,
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset={{_base_.sod_train_dataloader.dataset}}))
val_dataloader = dict(sod={{_base_.sod_val_dataloader}})
test_dataloader = val_dataloader
val_evaluator = dict(sod={{_base_.sod_val_evaluator}})
test_evaluator = val_evaluator
default_hooks = dict(best_checkpoint=dict(indicators=dict(sod={{_base_.sod_best_indicator}})))
