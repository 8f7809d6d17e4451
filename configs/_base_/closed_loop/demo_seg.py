# Segmentation on the generated demo data as the closed loop's task 'seg': the frozen SegFormer-b0
# of seg_task.py (six classes), fed and scored by the dataloaders and evaluator of
# configs/_base_/datasets/demo_seg.py. A leaf config adds the schedule; the multi-task configs
# compose the dataset and task-model bases themselves.
_base_ = ['../datasets/demo_seg.py', './seg_task.py']

train_dataloader = dict(seg={{_base_.seg_train_dataloader}})
val_dataloader = dict(seg={{_base_.seg_val_dataloader}})
test_dataloader = val_dataloader
val_evaluator = dict(seg={{_base_.seg_val_evaluator}})
test_evaluator = val_evaluator
default_hooks = dict(best_checkpoint=dict(indicators=dict(seg={{_base_.seg_best_indicator}})))
