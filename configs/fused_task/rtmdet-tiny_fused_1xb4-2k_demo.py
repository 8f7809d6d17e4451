# Stage 1.5: train RTMDet-tiny on fused images of the demo data (VFN-fused, or VIS / IR alone for
# comparison), validated with mmdet's CocoMetric.
#   python tools/train.py configs/fused_task/rtmdet-tiny_fused_1xb4-2k_demo.py \
#       --cfg-options model.fuser_checkpoint=work_dirs/vfn/iter_XXXX.pth   # mode vfn
#   python tools/train.py configs/fused_task/rtmdet-tiny_fused_1xb4-2k_demo.py --cfg-options
#   model.mode=vis
# model.mode: 'vis' | 'ir' | 'vfn'. The fuser (a VFN training checkpoint) is frozen; only the
# task network trains. Checkpoint keys: fuser.*, adapter.model.* (load into the fused wrapper,
# configs/fused_task/rtmdet-tiny_fused-eval_demo.py, as they are); for the frozen task adapter's
# `checkpoint=`: cldyn_mm.models.task_wrappers.export_task_checkpoint(CKPT, OUT) (see
# docs/task_wrappers.md). model.pretrained_init=True also applies the network's 'Pretrained'
# init_cfg (e.g. an ImageNet-pretrained backbone; a download).
_base_ = [
    '../_base_/datasets/demo_det.py',
    '../_base_/task_models/rtmdet_tiny_adapter.py',
    '../_base_/fused_task/fused_task_train.py',
]

model = dict(type='TrainableFusedDetector', task_adapter={{_base_.det_task_adapter}})
train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset={{_base_.det_train_dataloader.dataset}})
val_dataloader = {{_base_.det_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.det_val_evaluator}}
test_evaluator = val_evaluator
