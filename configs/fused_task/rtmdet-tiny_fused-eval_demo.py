# Detection on fused images of the demo data: a frozen RTMDet-tiny (task adapter) evaluated by
# mmdet's CocoMetric on VIS / IR / VFN-fused / CLDyN-compensated images.
#   python tools/test.py configs/fused_task/rtmdet-tiny_fused-eval_demo.py CKPT \
#       --cfg-options model.mode=ir
# model.mode: 'vis' | 'ir' | 'vfn' | 'cldyn'. Weights: model.fuser.vfn_checkpoint (a VFN
# training checkpoint), model.fuser_checkpoint (a whole CLDyNFuser / VFNFuser checkpoint),
# model.task_adapter.checkpoint (the detector trained on fused images); docs/task_wrappers.md.
_base_ = [
    '../_base_/datasets/demo_det.py',
    '../_base_/task_models/rtmdet_tiny_adapter.py',
    '../_base_/fused_task/fused_task_test.py',
]

model = dict(type='FusedDetector', task_adapter={{_base_.det_task_adapter}})
train_dataloader = None  # evaluation only
val_dataloader = {{_base_.det_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.det_val_evaluator}}
test_evaluator = val_evaluator
# --show-dir panels: the boxes predicted on each of IR | VIS | VFN | CLDyN
visualizer = dict(type='FusedDetVisualizer')
