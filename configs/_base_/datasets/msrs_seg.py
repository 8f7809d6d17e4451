# MSRS semantic segmentation on IR/VIS pairs: <split>/ir, <split>/vi, <split>/Segmentation_labels
# (class ids 0..8: unlabelled, car, person, bike, curve, car_stop, guardrail, color_cone, bump).
# mmseg's geometric transforms move both modalities and the label together; photometric ones
# touch the visible channels only (VisibleOnly).
dataset_type = 'MSRSSegDataset'
data_root = 'data/MSRS/'
img_scale = (640, 480)  # (w, h)
crop_size = (480, 480)  # (h, w)

train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='mmseg.RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmseg.PhotoMetricDistortion')]),
    dict(type='PackPairedSegInputs'),
]
# the label is loaded after Resize: IoUMetric compares at the original size
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
