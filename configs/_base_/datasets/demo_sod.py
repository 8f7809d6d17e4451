# Salient object detection on the synthetic demo data: ir/, vi/, saliency/ (0/255 on person,
# car and sign pixels -> labels 0/1), splits/{train,val}.txt.
# Names carry the task key (sod_train_dataloader, sod_val_dataloader, sod_val_evaluator,
# ...) so that the multi-task closed loop can inherit a detection, a segmentation and a
# saliency base at once (MMEngine forbids a key defined in two bases); configs pick them up
# by name (configs/_base_/closed_loop/<dataset>.py, configs/fused_task/*.py).
sod_dataset_type = 'DemoSODDataset'
sod_data_root = 'data/demo/'
sod_img_scale = (320, 256)  # (w, h)

sod_train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='RandomResize', scale=sod_img_scale, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='mmseg.RandomCrop', crop_size=(256, 256)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmseg.PhotoMetricDistortion')]),
    dict(type='PackPairedSegInputs'),
]
sod_test_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='Resize', scale=sod_img_scale, keep_ratio=True),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='PackPairedSegInputs'),
]

sod_train_dataloader = dict(
    batch_size=4,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=sod_dataset_type,
        data_root=sod_data_root,
        ann_file='splits/train.txt',
        pipeline=sod_train_pipeline))
sod_val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=sod_dataset_type,
        data_root=sod_data_root,
        ann_file='splits/val.txt',
        test_mode=True,
        pipeline=sod_test_pipeline))

sod_val_evaluator = dict(type='SODMetric')
# the metric that picks the best closed-loop checkpoint (ClosedLoopBestCheckpointHook)
sod_best_indicator = 'sod/MAE'
