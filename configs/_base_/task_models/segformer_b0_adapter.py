# SegFormer mit-b0 (mmseg's own config) as a frozen segmentation task network on fused images.
# Only `seg_task_adapter` is defined, so this file composes with dataset / fusion configs in
# `_base_` (see rtmdet_tiny_adapter.py for the `model=` / `config=` choice).
# Other datasets: --cfg-options seg_task_adapter.model_overrides.decode_head.num_classes=15
# (FMB; 9 for MSRS) seg_task_adapter.checkpoint=work_dirs/segformer_fused/iter_160000.pth
seg_task_adapter = dict(
    type='MMSegTaskAdapter',
    config='mmseg::segformer/segformer_mit-b0_8xb2-160k_ade20k-512x512.py',
    # demo data: background, road, marking, person, car, sign
    model_overrides=dict(decode_head=dict(num_classes=6)),
    checkpoint=None,
    # task feature: the last backbone stage (stride 32, 256 channels; the research code's
    # `backbone.norm4` in NCHW form)
    feature_layer='backbone',
    feature_index=-1)
