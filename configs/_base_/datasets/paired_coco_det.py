# Any COCO json over IR/VIS pairs: images[*].file_name stems name <ir>/<stem>.* and
# <vi>/<stem>.*; classes default to the json's categories (set metainfo=dict(classes=...) to
# pick a subset). Example: MSRS with its coco_fusion.json, or M3FD with coco.json.
dataset_type = 'PairedCocoDetDataset'
data_root = 'data/pairs_coco/'
train_ann = 'annotations/train.json'
val_ann = 'annotations/val.json'
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
        ann_file=train_ann,
        data_prefix=dict(ir='ir', vi='vi'),
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
        ann_file=val_ann,
        data_prefix=dict(ir='ir', vi='vi'),
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='mmdet.CocoMetric', ann_file=data_root + val_ann, metric='bbox')
test_evaluator = val_evaluator
