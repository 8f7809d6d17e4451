# CLDyN closed loop for three tasks at once (the paper's setting): M3FD detection, FMB
# segmentation and VT5000 saliency, each with its own dataloader and frozen task network.
# Each step takes one batch per task, in this order; the three task gradients are combined with
# CAGrad weights (lam 0.5, spec section 4). The dataset and task-network bases are those
# of the single-task configs (configs/_base_/closed_loop/{m3fd_det,fmb_seg,vt5000_sod}.py):
#   python tools/train.py configs/cldyn_multitask.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.det.checkpoint=DET.pth \
#       model.tasks.seg.checkpoint=SEG.pth model.tasks.sod.checkpoint=SOD.pth \
#       train_dataloader.det.dataset.data_root=data/M3FD/ ...   (likewise seg, sod, val_*)
# best.pth: at least two tasks improved and none more than 5 % worse than its best.
_base_ = [
    './_base_/closed_loop/multitask.py',
    './_base_/datasets/m3fd_det.py',
    './_base_/datasets/fmb_seg.py',
    './_base_/datasets/vt5000_sod.py',
]

model = dict(
    tasks=dict(
        det=dict(model_overrides=dict(bbox_head=dict(num_classes=6))),
        seg=dict(model_overrides=dict(decode_head=dict(num_classes=15)))))

train_dataloader = dict(
    det={{_base_.det_train_dataloader}},
    seg={{_base_.seg_train_dataloader}},
    # batch 4 as in configs/_base_/closed_loop/vt5000_sod.py (the base's 8 trains the network)
    sod=dict(
        batch_size=4,
        num_workers=2,
        persistent_workers=True,
        sampler=dict(type='DefaultSampler', shuffle=True),
        dataset={{_base_.sod_train_dataloader.dataset}}))
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

# 50 epochs of the largest task set (M3FD); the smaller sets cycle
train_cfg = dict(max_iters=42000, val_interval=2000)
default_hooks = dict(
    checkpoint=dict(interval=2000),
    best_checkpoint=dict(
        indicators=dict(
            det={{_base_.det_best_indicator}},
            seg={{_base_.seg_best_indicator}},
            sod={{_base_.sod_best_indicator}})))
