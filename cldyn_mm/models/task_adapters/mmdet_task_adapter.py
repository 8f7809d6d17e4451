"""Task adapter for any mmdet detector."""
import math
from typing import Sequence, Tuple

from cldyn_mm.registry import MODELS
from .base_task_adapter import BaseTaskAdapter


@MODELS.register_module()
class MMDetTaskAdapter(BaseTaskAdapter):
    """A frozen mmdet detector (RTMDet, YOLOX, Faster R-CNN, ...) for fused images.

    * Task feature default: the detector's last neck level (``feature_layer='neck'``,
      ``feature_index=-1``; e.g. RTMDet-tiny's ``neck.out_convs.2``, 96 channels at stride
      32), or the last backbone stage for a detector without neck.
    * Loss: ``detector.loss`` (a dict such as ``loss_cls`` / ``loss_bbox``).
    * Prediction: ``detector.predict(..., rescale=True)``: ``pred_instances`` (``bboxes``,
      ``scores``, ``labels``) in the original image's pixels, as mmdet's metrics expect.

    Geometry as mmdet's ``DetDataPreprocessor``: the batch is padded (bottom / right, with
    ``pad_value`` after normalisation) to a multiple of ``pad_size_divisor``: the least common
    multiple of the preprocessor's and 32 (mmdet's pipelines pad to the largest stride with a
    ``Pad`` transform where the preprocessor does not, e.g. RTMDet; override with the
    ``pad_size_divisor`` argument);
    every sample gets ``batch_input_shape`` and ``pad_shape`` (its ``img_shape`` rounded up to
    the divisor); boxes become plain tensors when the preprocessor has ``boxtype2tensor``; the
    ground-truth masks / semantic maps are padded when it has ``pad_mask`` / ``pad_seg``.
    ``batch_augments`` (e.g. YOLOX's random batch resize) are training augmentations of the
    detector itself and are not applied: the loss is computed on the fused image as it is.
    """

    task = 'det'
    default_scope = 'mmdet'
    scope_imports = ('mmdet.models', )

    def _default_padding(self, dp):
        # mmdet pipelines pad the image to a multiple of the largest stride themselves (RTMDet:
        # Pad to 640 x 640; YOLOX: the preprocessor's pad_size_divisor=32), and detectors with
        # concatenating necks (PAFPN) fail on other sizes: pad to a multiple of 32 as well
        divisor = int(getattr(dp, 'pad_size_divisor', 1) or 1)
        return math.lcm(divisor, 32), None

    def default_feature_layer(self) -> str:
        return 'neck' if getattr(self.model, 'with_neck', False) else 'backbone'

    def _new_sample(self, **metainfo):
        from mmdet.structures import DetDataSample
        return DetDataSample(metainfo=metainfo)

    def set_geometry(self, samples: Sequence, fused_shape: Tuple[int, int],
                     batch_shape: Tuple[int, int]) -> None:
        d = self.pad_size_divisor
        for i, sample in enumerate(samples):
            h, w = self._img_shape(sample, fused_shape, i)
            meta = dict(
                batch_input_shape=tuple(batch_shape), pad_shape=(-(-h // d) * d, -(-w // d) * d))
            if 'img_shape' not in sample.metainfo:
                meta['img_shape'] = (h, w)
            if 'ori_shape' not in sample.metainfo:
                meta['ori_shape'] = (h, w)
            if 'scale_factor' not in sample.metainfo:
                meta['scale_factor'] = (1., 1.)
            sample.set_metainfo(meta)
        dp = self.data_preprocessor
        if getattr(dp, 'boxtype2tensor', True):
            from mmdet.models.utils.misc import samplelist_boxtype2tensor
            samplelist_boxtype2tensor(samples)

    def prepare_samples(self, data_samples, fused, batch_shape, for_loss: bool) -> list:
        samples = super().prepare_samples(data_samples, fused, batch_shape, for_loss)
        dp = self.data_preprocessor
        if for_loss and samples:
            if getattr(dp, 'pad_mask', False) and 'gt_instances' in samples[0]:
                dp.pad_gt_masks(samples)
            if getattr(dp, 'pad_seg', False):
                dp.pad_gt_sem_seg(samples)
        return samples

    def _predict(self, inputs, samples: list) -> list:
        return self.model.predict(inputs, samples, rescale=True)
