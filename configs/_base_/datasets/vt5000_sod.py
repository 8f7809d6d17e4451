# RGB-T salient object detection on VT5000: <split>/RGB, <split>/T (or T_GRAY), <split>/GT with
# split folders Train/ and Test/. Masks 0/255 become labels 0/1 (classes background, salient).
# The common SOD setting resizes to 352x352 (no aspect ratio); metrics are computed at the
# original size (the mask is loaded after Resize; predictions are resized back by mmseg).
# Names carry the task key (sod_train_dataloader, sod_val_dataloader, sod_val_evaluator,
# ...) so that the multi-task closed loop can inherit a detection, a segmentation and a
# saliency base at once (MMEngine forbids a key defined in two bases); configs pick them up
# by name (configs/_base_/closed_loop/<dataset>.py, configs/fused_task/*.py).
sod_dataset_type = 'VTSODDataset'
sod_data_root = 'data/VT5000/'
sod_img_scale = (352, 352)  # (w, h)

sod_train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='Resize', scale=sod_img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmseg.PhotoMetricDistortion')]),
    dict(type='PackPairedSegInputs'),
]
sod_test_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='Resize', scale=sod_img_scale, keep_ratio=False),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='PackPairedSegInputs'),
]

sod_train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=sod_dataset_type, data_root=sod_data_root, split='Train', pipeline=sod_train_pipeline))
sod_val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=sod_dataset_type,
        data_root=sod_data_root,
        split='Test',
        test_mode=True,
        pipeline=sod_test_pipeline))

sod_val_evaluator = dict(type='SODMetric')
# the metric that picks the best closed-loop checkpoint (ClosedLoopBestCheckpointHook)
sod_best_indicator = 'sod/MAE'
