# MSRS detection (person, bicycle, car; Lele-3/MSRS-detection-label YOLO boxes) on IR/VIS pairs.
# data_root holds ir/<stem>.png, vi/<stem>.png, classes.txt and labels_yolo/<set>/<stem>.txt
# (set: fusion (default when present), ir or vi; see MSRSDetDataset's label_set).
# Inputs are the (4, H, W) pair (visible B, G, R + infrared); mmdet's geometric transforms
# move both modalities and the boxes together, photometric ones touch the visible channels only.
dataset_type = 'MSRSDetDataset'
data_root = 'data/MSRS/'
img_scale = (640, 480)  # (w, h)

train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(
        type='RandomResize',
        scale=img_scale,
        ratio_range=(0.75, 1.25),
        keep_ratio=True,
        resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_size=(480, 480)),  # (w, h)
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmdet.PhotoMetricDistortion')]),
    dict(type='PackPairedDetInputs'),
]
# boxes are loaded after Resize: the metric compares with original-size ground truth
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
        ann_file='',
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type, data_root=data_root, ann_file='', test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# no ann_file: CocoMetric builds the ground truth from the packed `instances`
val_evaluator = dict(type='mmdet.CocoMetric', metric='bbox', format_only=False)
test_evaluator = val_evaluator
