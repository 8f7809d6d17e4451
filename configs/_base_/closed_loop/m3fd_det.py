# M3FD detection as the closed loop's task 'det': the frozen RTMDet-tiny of det_task.py with
# M3FD's six classes, fed and scored by the dataloaders and evaluator of
# configs/_base_/datasets/m3fd_det.py. A leaf config adds the schedule; the multi-task configs
# compose the dataset and task-model bases themselves.
_base_ = ['../datasets/m3fd_det.py', './det_task.py']

model = dict(tasks=dict(det=dict(model_overrides=dict(bbox_head=dict(num_classes=6)))))
train_dataloader = dict(det={{_base_.det_train_dataloader}})
val_dataloader = dict(det={{_base_.det_val_dataloader}})
test_dataloader = val_dataloader
val_evaluator = dict(det={{_base_.det_val_evaluator}})
test_evaluator = val_evaluator
default_hooks = dict(best_checkpoint=dict(indicators=dict(det={{_base_.det_best_indicator}})))
