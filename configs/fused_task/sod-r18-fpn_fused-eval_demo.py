# Salient object detection on fused images of the demo data: a frozen binary mmseg
# segmentor (SODTaskAdapter, ResNet-18 + FPN) evaluated by cldyn_mm's SODMetric on VIS / IR /
# VFN-fused / CLDyN-compensated images.
#   python tools/test.py configs/fused_task/sod-r18-fpn_fused-eval_demo.py CKPT \
#       --cfg-options model.mode=ir
# model.mode: 'vis' | 'ir' | 'vfn' | 'cldyn'. Weights: model.fuser.vfn_checkpoint (a VFN
# training checkpoint), model.fuser_checkpoint (a whole CLDyNFuser / VFNFuser checkpoint),
# model.task_adapter.checkpoint (the SOD model trained on fused images); docs/task_wrappers.md.
_base_ = [
    '../_base_/datasets/demo_sod.py',
    '../_base_/task_models/sod_adapter.py',
    '../_base_/fused_task/fused_task_test.py',
]

model = dict(type='FusedSegmentor', task_adapter={{_base_.sod_task_adapter}})
train_dataloader = None  # evaluation only
val_dataloader = {{_base_.sod_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.sod_val_evaluator}}
test_evaluator = val_evaluator
# --show-dir panels: the saliency heat maps predicted on each of IR | VIS | VFN | CLDyN
visualizer = dict(type='FusedSegVisualizer')
