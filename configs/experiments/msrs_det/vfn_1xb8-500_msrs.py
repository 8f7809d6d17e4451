# msrs_det experiment, stage 1: VFN (no labels) on the MSRS train split only (the val pairs
# stay unseen), evaluated with the fusion metrics on the val split at full size.
#   python tools/train.py configs/experiments/msrs_det/vfn_1xb8-500_msrs.py --work-dir W/vfn
_base_ = ['../../vfn/vfn_1xb16-20k_pairs.py']

data_root = '../shared/data/det/MSRS/'  # relative to the repository root
train_split = '{{ fileDirname }}/splits/train.txt'
val_split = '{{ fileDirname }}/splits/val.txt'

# 128x128 crops, batch 8: about 1.5 s per iteration on one CPU thread
train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.RandomCrop', crop_size=(128, 128)),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='RandomRot90', prob=0.5),
    dict(type='PackFusionInputs'),
]
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file=train_split, pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root, ann_file=val_split))
test_dataloader = val_dataloader

max_iters = 500
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(
    checkpoint=dict(interval=100, max_keep_ckpts=2, save_last=True),
    logger=dict(interval=20),
    visualization=dict(max_per_batch=1))
val_evaluator = dict(metric=['EN', 'SD', 'SF', 'AG', 'MI', 'SCD', 'VIF', 'Qabf', 'SSIM'])
test_evaluator = val_evaluator
randomness = dict(seed=0)
