# FMB semantic segmentation on IR/VIS pairs: <split>/Infrared, <split>/Visible, <split>/Label
# (class ids 0..14: background, Road, Sidewalk, Building, Lamp, Sign, Vegetation, Sky, Person,
# Car, Truck, Bus, Motorcycle, Bicycle, Pole); split folders train/ and test/. 800x600 images.
dataset_type = 'FMBSegDataset'
data_root = 'data/FMB/'
img_scale = (800, 600)  # (w, h)
crop_size = (512, 512)  # (h, w)

train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
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
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='test',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
