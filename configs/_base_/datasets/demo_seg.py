# Semantic segmentation on the synthetic demo data (tools/dataset_converters/make_demo_data.py):
# ir/, vi/, Segmentation_labels/ (background, road, marking, person, car, sign),
# splits/{train,val}.txt.
dataset_type = 'DemoSegDataset'
data_root = 'data/demo/'
img_scale = (320, 256)  # (w, h)
crop_size = (256, 256)  # (h, w)

train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='mmseg.RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmseg.PhotoMetricDistortion')]),
    dict(type='PackPairedSegInputs'),
]
test_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='PackPairedSegInputs'),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/train.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='splits/val.txt',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
