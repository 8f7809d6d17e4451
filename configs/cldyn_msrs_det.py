# CLDyN closed loop for detection on MSRS (person, bicycle, car; 640x480 IR/VIS pairs):
# RSC + bank learn to compensate the VFN fusion for a frozen RTMDet-tiny trained on VFN-fused
# images (stage 1.5, configs/tasks/*_train_fused.py). Spec section 4: Adam lr 0.01, batch 4,
# reward-penalty loss (w = 5); one task, so the applied gradient is the detection gradient.
#   python tools/train.py configs/cldyn_msrs_det.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.det.checkpoint=DET.pth \
#       train_dataloader.det.dataset.data_root=../shared/data/det/MSRS/ \
#       val_dataloader.det.dataset.data_root=../shared/data/det/MSRS/
# DET.pth: the detector alone (export_task_checkpoint of the stage-1.5 run, see
# docs/task_wrappers.md). Kept: <work_dir>/best.pth (best mAP); evaluate it with
# configs/tasks/*_fused.py in mode 'cldyn' (model.fuser_checkpoint=best.pth).
_base_ = ['./_base_/datasets/msrs_det.py', './_base_/closed_loop/det_task.py']

model = dict(tasks=dict(det=dict(model_overrides=dict(bbox_head=dict(num_classes=3)))))

train_dataloader = dict(_delete_=True, det={{_base_.train_dataloader}})
val_dataloader = dict(_delete_=True, det={{_base_.val_dataloader}})
val_evaluator = dict(_delete_=True, det={{_base_.val_evaluator}})
test_dataloader = val_dataloader
test_evaluator = val_evaluator

# about 50 epochs of the ~155 training pairs at batch 4
train_cfg = dict(max_iters=2000, val_interval=250)
default_hooks = dict(
    checkpoint=dict(interval=250), best_checkpoint=dict(indicators=dict(det='coco/bbox_mAP')))
