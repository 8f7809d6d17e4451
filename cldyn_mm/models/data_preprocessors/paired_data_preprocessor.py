"""Batching and colour handling for infrared / visible pairs."""
from typing import List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor

from cldyn_mm.registry import MODELS
from cldyn_mm.utils.colour import rgb_to_ycbcr


@MODELS.register_module()
class PairedDataPreprocessor(BaseDataPreprocessor):
    """Stack paired inputs into a batch and split them into the fusion's inputs.

    Input: ``data['inputs']``, a list of (4, H_i, W_i) tensors (visible B, G, R, infrared) in
    [0, 255] as packed by :class:`PackFusionInputs`, or an already stacked (B, 4, H, W) tensor.
    Samples of different sizes are padded at the bottom/right (replicate) to a common size that
    is a multiple of ``pad_size_divisor``; each data sample keeps its ``img_shape`` and gets
    ``batch_input_shape`` / ``pad_shape`` so that outputs can be cropped back. Padding
    changes a padded sample's fusion slightly (VFN's attention pools over the whole image), so
    exact per-image results need equal-size batches (``tools/fuse.py`` groups by size; the
    evaluation dataloaders use batch size 1).

    Output ``inputs`` is a dict of (B, C, H, W) float tensors in [0, 1]:
    ``ir`` (1 channel), ``vis`` (RGB, 3), ``vis_ycbcr`` (Y, Cb, Cr; BT.601 full range).

    Args:
        pad_size_divisor (int): Pad height and width to a multiple of this. Defaults to 1.
        value_scale (float): Divisor that maps input values to [0, 1]. Defaults to 255.
    """

    def __init__(self,
                 pad_size_divisor: int = 1,
                 value_scale: float = 255.,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking)
        if pad_size_divisor < 1:
            raise ValueError(f'pad_size_divisor must be >= 1, got {pad_size_divisor}')
        self.pad_size_divisor = pad_size_divisor
        self.value_scale = value_scale

    def stack(self, inputs) -> torch.Tensor:
        if isinstance(inputs, torch.Tensor):
            if inputs.dim() != 4 or inputs.shape[1] != 4:
                raise ValueError('batched inputs must have shape (B, 4, H, W), got '
                                 f'{tuple(inputs.shape)}')
            return inputs
        for x in inputs:
            if x.dim() != 3 or x.shape[0] != 4:
                raise ValueError(f'each input must have shape (4, H, W), got {tuple(x.shape)}')
        d = self.pad_size_divisor
        h = max(x.shape[1] for x in inputs)
        w = max(x.shape[2] for x in inputs)
        h, w = -(-h // d) * d, -(-w // d) * d
        padded = [
            x if x.shape[1:] == (h, w) else F.pad(
                x[None], (0, w - x.shape[2], 0, h - x.shape[1]), mode='replicate')[0]
            for x in inputs
        ]
        return torch.stack(padded)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        raw = data['inputs']
        batch = self.stack(raw).float() / self.value_scale
        samples: Optional[Sequence] = data.get('data_samples', None)
        if samples is not None:
            shapes: List = ([tuple(x.shape[1:]) for x in raw] if not isinstance(raw, torch.Tensor)
                            else [tuple(raw.shape[2:])] * raw.shape[0])
            for sample, shape in zip(samples, shapes):
                sample.set_metainfo(
                    dict(
                        batch_input_shape=tuple(batch.shape[2:]), pad_shape=tuple(batch.shape[2:])))
                if 'img_shape' not in sample:
                    sample.set_metainfo(dict(img_shape=shape))
        vis = batch[:, [2, 1, 0]]  # BGR -> RGB
        ir = batch[:, 3:4]
        inputs = dict(ir=ir, vis=vis, vis_ycbcr=rgb_to_ycbcr(vis))
        return dict(inputs=inputs, data_samples=samples)
