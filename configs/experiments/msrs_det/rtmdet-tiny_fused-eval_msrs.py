# msrs_det experiment, evaluation: a frozen detector of rtmdet-tiny_fused_1xb4-1200_msrs.py on
# the val split, fed with VIS, IR, VFN-fused or CLDyN-compensated images (FusedDetector),
# scored by CocoMetric (bbox mAP@[.5:.95], mAP@.5).
#   python tools/test.py configs/experiments/msrs_det/rtmdet-tiny_fused-eval_msrs.py \
#       W/det_vis/iter_1200.pth --cfg-options model.mode=vis
#   python tools/test.py configs/experiments/msrs_det/rtmdet-tiny_fused-eval_msrs.py \
#       W/det_vfn/iter_1200.pth --cfg-options model.mode=vfn \
#       model.fuser.vfn_checkpoint=W/vfn/iter_500.pth
# A checkpoint of rtmdet-tiny_fused_1xb4-1200_msrs.py loads as it is (keys adapter.model.*,
# fuser.*). --show-dir DIR draws IR | VIS | VFN | CLDyN panels with the boxes.
_base_ = [
    './_base_/msrs_det_data.py',
    '../../_base_/task_models/rtmdet_tiny_adapter.py',
    '../../_base_/fused_task/fused_task_test.py',
]

# the adapter base already has num_classes=3 (MSRS: person, bicycle, car)
model = dict(type='FusedDetector', mode='vfn', task_adapter={{_base_.det_task_adapter}})
train_dataloader = None  # evaluation only
val_dataloader = {{_base_.det_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.det_val_evaluator}}
test_evaluator = val_evaluator
