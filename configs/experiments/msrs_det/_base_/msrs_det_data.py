# MSRS detection data of the msrs_det experiment (docs/experiments/msrs_det.md): the project's
# MSRS dataset config with the experiment's fixed train / val split (frame-id blocks,
# ../splits/*.txt), the experiment's CPU resolution and single-process loading.
#   data root:  --cfg-options {train,val,test}_dataloader.dataset.data_root=/path/to/MSRS/
#   split:      --cfg-options {train,val,test}_dataloader.dataset.ann_file=/path/list.txt
# Boxes: the `fusion` label set (annotated on fused images, the most complete one), for every
# mode, so VIS / IR / VFN / CLDyN are scored against the same ground truth.
_base_ = ['../../../_base_/datasets/msrs_det.py']

det_data_root = '../shared/data/det/MSRS/'  # relative to the repository root
train_split = '{{ fileDirname }}/../splits/train.txt'  # 157 pairs
val_split = '{{ fileDirname }}/../splits/val.txt'  # 50 pairs (24 day, 26 night)
label_set = 'fusion'

# 640x480 pairs at half size: RTMDet-tiny trains from scratch on 1 CPU thread
det_img_scale = (320, 240)  # (w, h)
det_train_pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='mmdet.LoadAnnotations', with_bbox=True),
    dict(
        type='RandomResize',
        scale=det_img_scale,
        ratio_range=(0.8, 1.25),
        keep_ratio=True,
        resize_type='mmdet.Resize'),
    dict(type='mmdet.RandomCrop', crop_size=(320, 240)),  # (w, h); no-op when smaller
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
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=det_data_root,
        ann_file=train_split,
        label_set=label_set,
        pipeline=det_train_pipeline))
det_val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=det_data_root,
        ann_file=val_split,
        label_set=label_set,
        pipeline=det_test_pipeline))
