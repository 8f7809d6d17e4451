# CLDyN closed loop for detection on M3FD (People, Car, Bus, Motorcycle, Lamp, Truck; VOC XML,
# 1024x768): RSC + bank compensate the VFN fusion for a frozen detector trained on VFN-fused
# images (the paper uses YOLOv5; here mmdet's RTMDet-tiny, any mmdet detector config works
# through model.tasks.det.config / model). Spec section 4: Adam lr 0.01, batch 4, 50 epochs.
#   python tools/train.py configs/cldyn_m3fd_det.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.det.checkpoint=DET.pth \
#       train_dataloader.det.dataset.data_root=data/M3FD/ \
#       val_dataloader.det.dataset.data_root=data/M3FD/
# Splits: train_dataloader.det.dataset.ann_file=<stem list> (see docs/task_datasets.md).
_base_ = ['./_base_/closed_loop/m3fd_det.py']

# 50 epochs of ~3,360 training pairs (80 % of 4,200) at batch 4
train_cfg = dict(max_iters=42000, val_interval=2000)
default_hooks = dict(checkpoint=dict(interval=2000))
