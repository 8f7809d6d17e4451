# RTMDet-tiny (mmdet's own config) as a frozen detection task network on fused images.
# Only `det_task_adapter` is defined, so this file composes with dataset / fusion configs in
# `_base_`; the mmdet config is read by the adapter (`config=` takes `mmdet::` paths, and
# `model=` takes a model dict, e.g. `{{_base_.model}}` of a config that inherits
# `_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py']`).
# Other datasets: --cfg-options det_task_adapter.model_overrides.bbox_head.num_classes=6
# (M3FD) det_task_adapter.checkpoint=work_dirs/rtmdet_fused/epoch_100.pth
det_task_adapter = dict(
    type='MMDetTaskAdapter',
    config='mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py',
    model_overrides=dict(bbox_head=dict(num_classes=3)),  # demo data: person, car, sign
    checkpoint=None,  # the detector trained on fused images (stage 1.5)
    # task feature: the last neck level (stride 32, 96 channels); any dotted layer name works
    feature_layer='neck.out_convs.2',
    feature_index=-1)
