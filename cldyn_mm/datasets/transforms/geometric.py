"""Geometric transforms that mmcv / mmdet / mmseg do not provide.

They act on ``img`` (all channels, so both modalities at once), ``gt_seg_map`` and
``gt_bboxes`` when present, keeping every target aligned with the image.
"""
import numpy as np
from mmcv.transforms import BaseTransform

from cldyn_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class RandomRot90(BaseTransform):
    """Rotate the image and its targets by a random multiple of 90 degrees.

    Modified keys: ``img``, ``img_shape``, ``gt_seg_map``, ``gt_bboxes`` (if present).
    Added key: ``rot90_k`` (number of counter-clockwise quarter turns, 0-3).

    Args:
        prob (float): Probability of rotating at all. Defaults to 0.5.
        ks (tuple[int]): Quarter turns to choose from when rotating. Defaults to (1, 2, 3).
    """

    def __init__(self, prob: float = 0.5, ks=(1, 2, 3)) -> None:
        if not 0 <= prob <= 1:
            raise ValueError(f'RandomRot90: prob must lie in [0, 1], got {prob}')
        if not ks or any(int(k) % 4 == 0 for k in ks):
            raise ValueError(f'RandomRot90: ks must be non-empty quarter turns in 1..3, got {ks}')
        self.prob = prob
        self.ks = tuple(int(k) % 4 for k in ks)

    def transform(self, results: dict) -> dict:
        k = 0
        if np.random.rand() < self.prob:
            k = self.ks[np.random.randint(len(self.ks))]
        results['rot90_k'] = k
        if k == 0:
            return results
        h, w = results['img'].shape[:2]
        results['img'] = np.ascontiguousarray(np.rot90(results['img'], k, axes=(0, 1)))
        results['img_shape'] = results['img'].shape[:2]
        if results.get('gt_seg_map', None) is not None:
            results['gt_seg_map'] = np.ascontiguousarray(
                np.rot90(results['gt_seg_map'], k, axes=(0, 1)))
        if results.get('gt_bboxes', None) is not None:
            results['gt_bboxes'] = self._rotate_boxes(results['gt_bboxes'], w, h, k)
        return results

    @staticmethod
    def _rotate_boxes(boxes, width: int, height: int, k: int):
        tensor_boxes = hasattr(boxes, 'tensor')  # mmdet HorizontalBoxes
        arr = boxes.tensor.numpy() if tensor_boxes else np.asarray(boxes)
        arr = arr.astype(np.float32).reshape(-1, 4)
        for _ in range(k):
            x1, y1, x2, y2 = arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3]
            arr = np.stack((y1, width - x2, y2, width - x1), axis=1)
            width, height = height, width
        if tensor_boxes:
            import torch
            return type(boxes)(torch.from_numpy(arr.copy()))
        return arr

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob}, ks={self.ks})'
