# Salient object detection on the generated demo data as the closed loop's task 'sod': the frozen
# saliency network of sod_task.py, fed and scored by the dataloaders and evaluator of
# configs/_base_/datasets/demo_sod.py. A leaf config adds the schedule; the multi-task configs
# compose the dataset and task-model bases themselves.
_base_ = ['../datasets/demo_sod.py', './sod_task.py']

train_dataloader = dict(sod={{_base_.sod_train_dataloader}})
val_dataloader = dict(sod={{_base_.sod_val_dataloader}})
test_dataloader = val_dataloader
val_evaluator = dict(sod={{_base_.sod_val_evaluator}})
test_evaluator = val_evaluator
default_hooks = dict(best_checkpoint=dict(indicators=dict(sod={{_base_.sod_best_indicator}})))
