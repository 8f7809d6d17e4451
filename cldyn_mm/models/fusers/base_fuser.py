"""The MMEngine model interface shared by the fusion models."""
from abc import abstractmethod
from typing import Dict, List, Optional, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmengine.structures import BaseDataElement
from torch import Tensor

from cldyn_mm.utils.colour import merge_fused_y


class BaseFuser(BaseModel):
    """Base class of fusion models: ``inputs`` in, fused Y and colour fused image out.

    ``inputs`` is the dict made by :class:`PairedDataPreprocessor` (``ir`` (B, 1, H, W),
    ``vis`` (B, 3, H, W) RGB, ``vis_ycbcr`` (B, 3, H, W), all in [0, 1]).

    Modes of :meth:`forward`: ``'loss'`` -> dict of losses; ``'predict'`` -> the data samples
    with ``pred_fused_y`` (1, H, W) and ``pred_fused`` (3, H, W, RGB) in [0, 1], cropped to
    each sample's ``img_shape`` and resized to its ``ori_shape``; ``'tensor'`` -> the colour
    fused batch (B, 3, H, W).
    """

    @abstractmethod
    def fuse_y(self, inputs: Dict[str, Tensor], **kwargs) -> Tensor:
        """Fused luminance (B, 1, H, W) in [0, 1]."""

    def fuse(self, inputs: Dict[str, Tensor], **kwargs) -> Dict[str, Tensor]:
        """``dict(fused_y=(B, 1, H, W), fused=(B, 3, H, W) RGB)``, both in [0, 1]."""
        fused_y = self.fuse_y(inputs, **kwargs)
        return dict(fused_y=fused_y, fused=merge_fused_y(fused_y, inputs['vis_ycbcr']))

    def loss(self, inputs: Dict[str, Tensor], data_samples=None) -> dict:
        raise NotImplementedError(f'{type(self).__name__} has no training loss')

    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[List] = None,
                mode: str = 'tensor',
                **kwargs) -> Union[dict, list, Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples, **kwargs)
        if mode == 'tensor':
            return self.fuse(inputs, **kwargs)['fused']
        raise ValueError(f"invalid mode {mode!r}; use 'loss', 'predict' or 'tensor'")

    @torch.no_grad()
    def predict(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[List] = None,
                **kwargs) -> List[BaseDataElement]:
        out = self.fuse(inputs, **kwargs)
        return self.postprocess(out, data_samples)

    @staticmethod
    def postprocess(out: Dict[str, Tensor],
                    data_samples: Optional[List] = None) -> List[BaseDataElement]:
        """Split a fused batch into per-sample results at each sample's original size."""
        batch = out['fused'].shape[0]
        if data_samples is None:
            data_samples = [BaseDataElement() for _ in range(batch)]
        results = []
        for i, sample in enumerate(data_samples):
            y, rgb = out['fused_y'][i], out['fused'][i]
            h, w = sample.metainfo.get('img_shape', rgb.shape[-2:])[:2]
            y, rgb = y[:, :h, :w], rgb[:, :h, :w]
            ori = sample.metainfo.get('ori_shape', (h, w))[:2]
            if tuple(ori) != (h, w):
                y = F.interpolate(
                    y[None].float(), size=tuple(ori), mode='bilinear',
                    align_corners=False)[0].clamp(0, 1)
                rgb = F.interpolate(
                    rgb[None].float(), size=tuple(ori), mode='bilinear',
                    align_corners=False)[0].clamp(0, 1)
            sample.pred_fused_y = y.float()
            sample.pred_fused = rgb.float()
            results.append(sample)
        return results
