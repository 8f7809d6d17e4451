# Semantic segmentation on the synthetic demo data (tools/dataset_converters/make_demo_data.py):
# ir/, vi/, Segmentation_labels/ (background, road, marking, person, car, sign),
# splits/{train,val}.txt.
# Names carry the task key (seg_train_dataloader, seg_val_dataloader, seg_val_evaluator,
# ...) so that the multi-task closed loop can inherit a detection, a segmentation and a
# saliency base at once (MMEngine forbids a key defined in two bases); configs pick them up
# by name (configs/_base_/closed_loop/<dataset>.py, configs/fused_task/*.py).
seg_dataset_type = 'DemoSegDataset'
seg_data_root = 'data/demo/'
seg_img_scale = (320, 256)  # (w, h)
seg_crop_size = (256, 256)  # (h, w)

seg_train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='RandomResize', scale=seg_img_scale, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='mmseg.RandomCrop', crop_size=seg_crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmseg.PhotoMetricDistortion')]),
    dict(type='PackPairedSegInputs'),
]
seg_test_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='Resize', scale=seg_img_scale, keep_ratio=True),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='PackPairedSegInputs'),
]

seg_train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=seg_dataset_type,
        data_root=seg_data_root,
        ann_file='splits/train.txt',
        pipeline=seg_train_pipeline))
seg_val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=seg_dataset_type,
        data_root=seg_data_root,
        ann_file='splits/val.txt',
        test_mode=True,
        pipeline=seg_test_pipeline))

seg_val_evaluator = dict(type='mmseg.IoUMetric', iou_metrics=['mIoU'])
# the metric that picks the best closed-loop checkpoint (ClosedLoopBestCheckpointHook)
seg_best_indicator = 'mIoU'
