# CLDyN closed loop for semantic segmentation on FMB (15 classes, 800x600): RSC + bank
# compensate the VFN fusion for a frozen SegFormer (mit-b0 here; the paper's SegFormer size is
# a model.tasks.seg.config away) trained on VFN-fused images. Spec section 4.
#   python tools/train.py configs/cldyn_fmb_seg.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.seg.checkpoint=SEG.pth \
#       train_dataloader.seg.dataset.data_root=data/FMB/ \
#       val_dataloader.seg.dataset.data_root=data/FMB/
_base_ = ['./_base_/closed_loop/fmb_seg.py']

# 50 epochs of the 1,220 FMB training pairs at batch 4
train_cfg = dict(max_iters=15250, val_interval=1525)
default_hooks = dict(checkpoint=dict(interval=1525))
