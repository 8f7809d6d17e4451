# Detection on the synthetic demo data (tools/dataset_converters/make_demo_data.py): COCO json
# per split, pairs in ir/ and vi/, classes person, car, sign.
dataset_type = 'DemoDetDataset'
data_root = 'data/demo/'
img_scale = (320, 256)  # (w, h)

train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.8, 1.25),
        keep_ratio=True,
        resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_size=(256, 256)),  # (w, h)
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmdet.PhotoMetricDistortion')]),
    dict(type='PackPairedDetInputs'),
]
test_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.Resize', scale=img_scale, keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='PackPairedDetInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/train.json',
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/val.json',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# no ann_file: CocoMetric builds the ground truth from the packed `instances`, so overriding
# the datasets' data_root is enough
val_evaluator = dict(type='mmdet.CocoMetric', metric='bbox')
test_evaluator = val_evaluator
