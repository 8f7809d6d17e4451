# CLDyN closed loop for RGB-T salient object detection on VT5000 (train 2,500 / test 2,500
# pairs): RSC + bank compensate the VFN fusion for a frozen saliency network (ResNet-18 FPN,
# configs/_base_/task_models/sod_adapter.py; the paper uses CTDNet-18) trained on VFN-fused
# images. Spec section 4.
#   python tools/train.py configs/cldyn_vt5000_sod.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.sod.checkpoint=SOD.pth \
#       train_dataloader.sod.dataset.data_root=data/VT5000/ \
#       val_dataloader.sod.dataset.data_root=data/VT5000/
_base_ = ['./_base_/closed_loop/vt5000_sod.py']

# 50 epochs of the 2,500 VT5000 training pairs at batch 4
train_cfg = dict(max_iters=31250, val_interval=3125)
default_hooks = dict(checkpoint=dict(interval=3125))
