# Train VFN on any folder of infrared/visible pairs:
#   python tools/train.py configs/vfn/vfn_1xb16-20k_pairs.py \
#       --cfg-options train_dataloader.dataset.data_root=/path/to/pairs \
#                     val_dataloader.dataset.data_root=/path/to/val_pairs
_base_ = [
    '../_base_/models/vfn.py', '../_base_/datasets/paired_fusion.py',
    '../_base_/schedules/vfn_adam.py', '../_base_/default_runtime.py'
]
