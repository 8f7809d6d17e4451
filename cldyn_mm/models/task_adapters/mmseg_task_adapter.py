"""Task adapters for mmseg segmentors: semantic segmentation and salient object detection."""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.structures import PixelData

from cldyn_mm.registry import MODELS
from .base_task_adapter import BaseTaskAdapter

_GT_MAPS = ('gt_sem_seg', 'gt_edge_map', 'gt_depth_map')


@MODELS.register_module()
class MMSegTaskAdapter(BaseTaskAdapter):
    """A frozen mmseg segmentor (SegFormer, DeepLab, ...) for fused images.

    * Task feature default: the last backbone stage (``feature_layer='backbone'``,
      ``feature_index=-1``; SegFormer mit-b0: 256 channels at stride 32, the NCHW form of the
      research code's ``backbone.norm4``).
    * Loss: ``segmentor.loss`` (``decode.loss_ce``, auxiliary heads' losses, ``acc_seg``).
    * Prediction: ``segmentor.predict``: ``seg_logits`` and ``pred_sem_seg`` at ``ori_shape``.

    Geometry as mmseg's ``SegDataPreProcessor`` at test time, used for the feature, the loss
    and the prediction alike (so that losses of two fusions of one batch are comparable):
    padding to its ``test_cfg`` ``size_divisor`` / ``size`` when it has one, none otherwise
    (the training-time padding to the crop ``size``, meant for crops smaller than the crop
    size, is not applied). Every sample gets ``pad_shape`` (the batch size) and
    ``padding_size`` (its own bottom / right padding inside the batch), so that mmseg crops
    and resizes each prediction back to its ``ori_shape``. For the loss, ``gt_sem_seg`` (and
    ``gt_edge_map`` / ``gt_depth_map``) are padded with ``seg_pad_val`` (255, ignored) on
    copies of the samples; they must have the size of the sample's ``img_shape`` (labels in
    the image frame, as training pipelines give them).
    """

    task = 'seg'
    default_scope = 'mmseg'
    scope_imports = ('mmseg.models', )

    def _default_padding(self, dp) -> Tuple[int, Optional[Tuple[int, int]]]:
        test_cfg = getattr(dp, 'test_cfg', None) or {}
        size = test_cfg.get('size', None)
        divisor = test_cfg.get('size_divisor', None) or 1
        return int(divisor), (tuple(int(v) for v in size) if size is not None else None)

    @property
    def seg_pad_val(self) -> float:
        return getattr(self.data_preprocessor, 'seg_pad_val', 255)

    def _new_sample(self, **metainfo):
        from mmseg.structures import SegDataSample
        return SegDataSample(metainfo=metainfo)

    def set_geometry(self, samples: Sequence, fused_shape: Tuple[int, int],
                     batch_shape: Tuple[int, int]) -> None:
        hp, wp = batch_shape
        for i, sample in enumerate(samples):
            h, w = self._img_shape(sample, fused_shape, i)
            padding = [0, wp - w, 0, hp - h]  # left, right, top, bottom
            # `img_padding_size` is the key of mmseg's test-time padding, which its
            # postprocess_result prefers over the training key `padding_size`: set both
            meta = dict(
                pad_shape=(hp, wp),
                batch_input_shape=(hp, wp),
                padding_size=padding,
                img_padding_size=padding)
            if 'img_shape' not in sample.metainfo:
                meta['img_shape'] = (h, w)
            if 'ori_shape' not in sample.metainfo:
                meta['ori_shape'] = (h, w)
            sample.set_metainfo(meta)

    def prepare_samples(self, data_samples, fused, batch_shape, for_loss: bool) -> list:
        samples = super().prepare_samples(data_samples, fused, batch_shape, for_loss)
        if for_loss:
            hp, wp = batch_shape
            for i, sample in enumerate(samples):
                h, w = sample.metainfo['img_shape'][:2]
                for key in _GT_MAPS:
                    if key not in sample:
                        continue
                    data = sample.get(key).data
                    gh, gw = data.shape[-2:]
                    if (gh, gw) == (hp, wp):
                        continue
                    if (gh, gw) != (h, w):
                        raise ValueError(
                            f'data sample {i}: {key} is {gh}x{gw} but the image (img_shape) '
                            f'is {h}x{w}; the task loss needs labels in the image frame (a '
                            'training pipeline; test pipelines load labels after Resize, at '
                            'the original size)')
                    padded = F.pad(data, (0, wp - gw, 0, hp - gh), value=self.seg_pad_val)
                    setattr(sample, key, PixelData(data=padded))
        return samples


@MODELS.register_module()
class SODTaskAdapter(MMSegTaskAdapter):
    """A frozen salient-object-detection network, built as a binary mmseg segmentor.

    The network is an ordinary mmseg segmentor whose decode head has ``out_channels=1`` (a
    sigmoid saliency map; ``num_classes=2``) -- e.g. ``configs/_base_/task_models/
    sod_adapter.py``: ResNet-18 (V1c) + FPN + Semantic-FPN head at 1/4 resolution, loss
    BCE (``CrossEntropyLoss(use_sigmoid=True)``) + soft IoU (:class:`SaliencyIoULoss`), the
    usual pair of the SOD field. It therefore trains, tests and loads checkpoints with
    mmseg's machinery. A 2-channel (softmax) head works too (salient = channel 1).

    * Task feature default: the last backbone stage.
    * Loss: the segmentor's ``loss`` (with the config above ``decode.loss_bce`` +
      ``decode.loss_iou``; mmseg's ``acc_seg`` is logged too but is meaningless for a
      1-channel head and is not a loss).
    * Prediction: mmseg's ``seg_logits`` (already the sigmoid map for a 1-channel head) and
      ``pred_sem_seg`` (map > ``decode_head.threshold``), plus ``pred_saliency``: the map in
      [0, 1], ``(1, H, W)`` at ``ori_shape``; :class:`SODMetric` reads it.
    """

    task = 'sod'

    def _check_model(self) -> None:
        head = getattr(self.model, 'decode_head', None)
        out = getattr(head, 'out_channels', None)
        if out not in (1, 2):
            raise ValueError(f'SODTaskAdapter needs a binary segmentor (decode head with '
                             f'out_channels=1, sigmoid, or 2), got out_channels={out}')

    def _predict(self, inputs, samples: list) -> list:
        samples = self.model.predict(inputs, samples)
        for sample in samples:
            logits = sample.seg_logits.data
            if logits.shape[0] == 1:  # mmseg applied the sigmoid already
                sal = logits
            else:
                sal = torch.softmax(logits, dim=0)[1:2]
            sample.pred_saliency = PixelData(data=sal.clamp(0, 1))
        return samples
