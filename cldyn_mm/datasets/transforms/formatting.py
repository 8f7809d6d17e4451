"""Packing of a loaded pair into model inputs and a data sample."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform

from cldyn_mm.registry import TRANSFORMS
from cldyn_mm.structures import FusionDataSample


@TRANSFORMS.register_module()
class PackFusionInputs(BaseTransform):
    """Pack ``img`` (H, W, 4) into ``inputs`` (4, H, W) float32 and a ``FusionDataSample``.

    ``inputs`` keeps the loading convention: channels (visible B, G, R, infrared), values in
    [0, 255]. The data sample carries the meta keys listed in ``meta_keys`` that exist in
    ``results``.
    """

    def __init__(
        self,
        meta_keys=('stem', 'ir_path', 'vi_path', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor', 'flip', 'flip_direction', 'rot90_k')
    ) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 4:
            raise ValueError(f'PackFusionInputs expects img of shape (H, W, 4), got {img.shape} '
                             f"for {results.get('ir_path')}")
        inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()
        sample = FusionDataSample(metainfo={k: results[k] for k in self.meta_keys if k in results})
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(meta_keys={self.meta_keys})'
