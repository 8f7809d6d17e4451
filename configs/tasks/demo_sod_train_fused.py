# Stage 1.5: train the SOD model (ResNet-18 + FPN, binary mmseg segmentor) on fused images of
# the demo data (VFN-fused, or VIS / IR alone for comparison), validated with cldyn_mm's SODMetric.
#   python tools/train.py configs/tasks/demo_sod_train_fused.py \
#       --cfg-options model.fuser_checkpoint=work_dirs/vfn/iter_XXXX.pth   # mode vfn
#   python tools/train.py configs/tasks/demo_sod_train_fused.py --cfg-options model.mode=vis
# model.mode: 'vis' | 'ir' | 'vfn'. The fuser (a VFN training checkpoint) is frozen; only the
# task network trains. Checkpoint keys: fuser.*, adapter.model.* (load into the fused wrapper,
# configs/tasks/demo_sod_fused.py, as they are); for the frozen task adapter's
# `checkpoint=`: cldyn_mm.models.task_wrappers.export_task_checkpoint(CKPT, OUT) (see
# docs/task_wrappers.md). model.pretrained_init=True also applies the network's 'Pretrained'
# init_cfg (e.g. an ImageNet-pretrained backbone; a download).
_base_ = [
    '../_base_/datasets/demo_sod.py',
    '../_base_/task_models/sod_adapter.py',
    './_base_/fused_task_train.py',
]

model = dict(type='TrainableFusedSegmentor', task_adapter={{_base_.sod_task_adapter}})
train_dataloader = dict(sampler=dict(type='InfiniteSampler', shuffle=True))
