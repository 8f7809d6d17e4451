# RGB-T salient object detection on VT5000: <split>/RGB, <split>/T (or T_GRAY), <split>/GT with
# split folders Train/ and Test/. Masks 0/255 become labels 0/1 (classes background, salient).
# The common SOD setting resizes to 352x352 (no aspect ratio); metrics are computed at the
# original size (the mask is loaded after Resize; predictions are resized back by mmseg).
dataset_type = 'VTSODDataset'
data_root = 'data/VT5000/'
img_scale = (352, 352)  # (w, h)

train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='VisibleOnly', transforms=[dict(type='mmseg.PhotoMetricDistortion')]),
    dict(type='PackPairedSegInputs'),
]
test_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='Resize', scale=img_scale, keep_ratio=False),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='PackPairedSegInputs'),
]

train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, split='Train', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        split='Test',
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='SODMetric')
test_evaluator = val_evaluator
