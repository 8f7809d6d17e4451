# The synthetic demo pairs that tools/dataset_converters/make_demo_data.py generates (day and
# night scenes).
_base_ = './paired_fusion.py'

data_root = 'data/demo/'
crop_size = (128, 128)
train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='RandomRot90', prob=0.5),
    dict(type='PackFusionInputs'),
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(data_root=data_root, ann_file='splits/train.txt', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root, ann_file='splits/val.txt'))
test_dataloader = val_dataloader
