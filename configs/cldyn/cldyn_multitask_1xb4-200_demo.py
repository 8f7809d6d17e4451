# CLDyN closed loop on the demo data with all three tasks (detection, segmentation, saliency):
# the dataset and task-network bases of the single-task demo configs, combined with CAGrad
# weights.
#   python tools/train.py configs/cldyn/cldyn_multitask_1xb4-200_demo.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.det.checkpoint=DET.pth \
#       model.tasks.seg.checkpoint=SEG.pth model.tasks.sod.checkpoint=SOD.pth
_base_ = [
    '../_base_/closed_loop/multitask.py',
    '../_base_/datasets/demo_det.py',
    '../_base_/datasets/demo_seg.py',
    '../_base_/datasets/demo_sod.py',
]

train_dataloader = dict(
    det={{_base_.det_train_dataloader}},
    seg={{_base_.seg_train_dataloader}},
    sod={{_base_.sod_train_dataloader}})
val_dataloader = dict(
    det={{_base_.det_val_dataloader}},
    seg={{_base_.seg_val_dataloader}},
    sod={{_base_.sod_val_dataloader}})
test_dataloader = val_dataloader
val_evaluator = dict(
    det={{_base_.det_val_evaluator}},
    seg={{_base_.seg_val_evaluator}},
    sod={{_base_.sod_val_evaluator}})
test_evaluator = val_evaluator

train_cfg = dict(max_iters=200, val_interval=100)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=100),
    best_checkpoint=dict(
        indicators=dict(
            det={{_base_.det_best_indicator}},
            seg={{_base_.seg_best_indicator}},
            sod={{_base_.sod_best_indicator}})))
