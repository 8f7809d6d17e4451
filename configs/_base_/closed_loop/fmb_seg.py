# FMB segmentation as the closed loop's task 'seg': the frozen SegFormer-b0 of seg_task.py with
# FMB's 15 classes, fed and scored by the dataloaders and evaluator of
# configs/_base_/datasets/fmb_seg.py. A leaf config adds the schedule; the multi-task configs
# compose the dataset and task-model bases themselves.
_base_ = ['../datasets/fmb_seg.py', './seg_task.py']

model = dict(tasks=dict(seg=dict(model_overrides=dict(decode_head=dict(num_classes=15)))))
train_dataloader = dict(seg={{_base_.seg_train_dataloader}})
val_dataloader = dict(seg={{_base_.seg_val_dataloader}})
test_dataloader = val_dataloader
val_evaluator = dict(seg={{_base_.seg_val_evaluator}})
test_evaluator = val_evaluator
default_hooks = dict(best_checkpoint=dict(indicators=dict(seg={{_base_.seg_best_indicator}})))
