# MSRS detection (person, bicycle, car; Lele-3/MSRS-detection-label YOLO boxes) on IR/VIS pairs.
# data_root holds ir/<stem>.png, vi/<stem>.png, classes.txt and labels_yolo/<set>/<stem>.txt
# (set: fusion (default when present), ir or vi; see MSRSDetDataset's label_set).
# Inputs are the (4, H, W) pair (visible B, G, R + infrared); mmdet's geometric transforms
# move both modalities and the boxes together, photometric ones touch the visible channels only.
# Names carry the task key (det_train_dataloader, det_val_dataloader, det_val_evaluator,
# ...) so that the multi-task closed loop can inherit a detection, a segmentation and a
# saliency base at once (MMEngine forbids a key defined in two bases); configs pick them up
# by name (configs/_base_/closed_loop/<dataset>.py, configs/fused_task/*.py).
det_dataset_type = 'MSRSDetDataset'
det_data_root = 'data/MSRS/'
det_img_scale = (640, 480)  # (w, h)

det_train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(
        type='RandomResize',
        scale=det_img_scale,
        ratio_range=(0.75, 1.25),
        keep_ratio=True,
        resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_size=(480, 480)),  # (w, h)
    dict(type='mmdet.RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmdet.PhotoMetricDistortion')]),
    dict(type='PackPairedDetInputs'),
]
# boxes are loaded after Resize: the metric compares with original-size ground truth
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
        ann_file='',
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
        ann_file='',
        test_mode=True,
        pipeline=det_test_pipeline))

# no ann_file: CocoMetric builds the ground truth from the packed `instances`
det_val_evaluator = dict(type='mmdet.CocoMetric', metric='bbox', format_only=False)
# the metric that picks the best closed-loop checkpoint (ClosedLoopBestCheckpointHook)
det_best_indicator = 'coco/bbox_mAP'
