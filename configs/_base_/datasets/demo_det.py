# Detection on the synthetic demo data (tools/dataset_converters/make_demo_data.py): COCO json
# per split, pairs in ir/ and vi/, classes person, car, sign.
# Names carry the task key (det_train_dataloader, det_val_dataloader, det_val_evaluator,
# ...) so that the multi-task closed loop can inherit a detection, a segmentation and a
# saliency base at once (MMEngine forbids a key defined in two bases); configs pick them up
# by name (configs/_base_/closed_loop/<dataset>.py, configs/fused_task/*.py).
det_dataset_type = 'DemoDetDataset'
det_data_root = 'data/demo/'
det_img_scale = (320, 256)  # (w, h)

det_train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(
        type='RandomResize',
        scale=det_img_scale,
        ratio_range=(0.8, 1.25),
        keep_ratio=True,
        resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_size=(256, 256)),  # (w, h)
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmdet.PhotoMetricDistortion')]),
    dict(type='PackPairedDetInputs'),
]
det_test_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.Resize', scale=det_img_scale, keep_ratio=True),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(type='PackPairedDetInputs'),
]

det_train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=det_dataset_type,
        data_root=det_data_root,
        ann_file='annotations/train.json',
        filter_cfg=dict(filter_empty_gt=True),
        pipeline=det_train_pipeline))
det_val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=det_dataset_type,
        data_root=det_data_root,
        ann_file='annotations/val.json',
        test_mode=True,
        pipeline=det_test_pipeline))

# no ann_file: CocoMetric builds the ground truth from the packed `instances`, so overriding
# the datasets' data_root is enough
det_val_evaluator = dict(type='mmdet.CocoMetric', metric='bbox')
# the metric that picks the best closed-loop checkpoint (ClosedLoopBestCheckpointHook)
det_best_indicator = 'coco/bbox_mAP'
