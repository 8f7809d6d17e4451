# Salient object detection as a binary mmseg segmentor, frozen, on fused images.
# ResNet-18 (V1c) + FPN + Semantic-FPN head at 1/4 resolution (a light encoder-decoder in the
# spirit of the paper's CTDNet-18), one output channel with a sigmoid (the saliency map), loss
# BCE + soft IoU as in the SOD field. The same model dict trains with mmseg's machinery.
# ImageNet init for training: sod_task_adapter.model.pretrained='open-mmlab://resnet18_v1c'
# (a download). Only `sod_task_adapter` is defined, so this file composes with other configs.
sod_task_adapter = dict(
    type='SODTaskAdapter',
    model=dict(
        _scope_='mmseg',  # nested types are mmseg's, whatever the config's default scope
        type='EncoderDecoder',
        data_preprocessor=dict(
            type='SegDataPreProcessor',
            mean=[123.675, 116.28, 103.53],  # ImageNet, RGB, 0-255
            std=[58.395, 57.12, 57.375],
            bgr_to_rgb=True,
            pad_val=0,
            seg_pad_val=255,
            size_divisor=32,
            test_cfg=dict(size_divisor=32)),
        pretrained=None,
        backbone=dict(
            type='ResNetV1c',
            depth=18,
            num_stages=4,
            out_indices=(0, 1, 2, 3),
            dilations=(1, 1, 1, 1),
            strides=(1, 2, 2, 2),
            norm_cfg=dict(type='BN', requires_grad=True),
            norm_eval=False,
            style='pytorch',
            contract_dilation=True),
        neck=dict(type='FPN', in_channels=[64, 128, 256, 512], out_channels=64, num_outs=4),
        decode_head=dict(
            type='FPNHead',
            in_channels=[64, 64, 64, 64],
            in_index=[0, 1, 2, 3],
            feature_strides=[4, 8, 16, 32],
            channels=64,
            dropout_ratio=0.1,
            num_classes=2,  # background, salient
            out_channels=1,  # one sigmoid map
            threshold=0.5,
            norm_cfg=dict(type='BN', requires_grad=True),
            align_corners=False,
            loss_decode=[
                dict(
                    type='CrossEntropyLoss',
                    use_sigmoid=True,
                    avg_non_ignore=True,
                    loss_weight=1.0,
                    loss_name='loss_bce'),
                dict(type='cldyn_mm.SaliencyIoULoss', loss_weight=1.0),
            ]),
        train_cfg=dict(),
        test_cfg=dict(mode='whole')),
    checkpoint=None,
    # task feature: the last backbone stage (stride 32, 512 channels)
    feature_layer='backbone',
    feature_index=-1)
