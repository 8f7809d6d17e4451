# Infrared/visible pairs for training and evaluating fusion (no labels).
# data_root holds <ir folder>/<stem>.<ext> and <vi folder>/<stem>.<ext>; the folders are
# detected (ir/vi, Infrared/Visible, T/RGB, ...) or named with data_prefix=dict(ir=..., vi=...).
dataset_type = 'PairedImageDataset'
data_root = 'data/pairs/'
crop_size = (256, 256)

train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='RandomRot90', prob=0.5),
    dict(type='PackFusionInputs'),
]
# evaluation at the original size: the networks are fully convolutional
test_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='PackFusionInputs'),
]

train_dataloader = dict(
    batch_size=16,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader

val_evaluator = dict(type='FusionQualityMetric')
test_evaluator = val_evaluator
