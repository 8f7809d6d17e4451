# The paper's VFN setting (spec section 2): RoadScene, MSRS, M3FD and LLVIP training pairs,
# resized to 512x512, random 256x256 crops, flips and rotations, Adam 1e-3, batch 16,
# 100 epochs. Point the four roots at the datasets (each with ir/vi or Infrared/Visible).
_base_ = [
    '../_base_/models/vfn.py', '../_base_/datasets/paired_fusion.py',
    '../_base_/schedules/vfn_adam.py', '../_base_/default_runtime.py'
]

train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='Resize', scale=(512, 512), keep_ratio=False),
    dict(type='mmdet.RandomCrop', crop_size=(256, 256)),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='RandomRot90', prob=0.5),
    dict(type='PackFusionInputs'),
]
roots = ['data/RoadScene/', 'data/MSRS/train/', 'data/M3FD/', 'data/LLVIP/train/']
train_dataloader = dict(
    batch_size=16,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        _delete_=True,
        type='ConcatDataset',
        datasets=[
            dict(type='PairedImageDataset', data_root=r, pipeline=train_pipeline) for r in roots
        ]))
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=100, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10, by_epoch=True))
log_processor = dict(by_epoch=True)
val_dataloader = dict(dataset=dict(data_root='data/MSRS/test/'))
test_dataloader = val_dataloader
