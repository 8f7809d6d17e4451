"""Transforms for paired task data (detection, segmentation, salient objects).

The image is the (H, W, 4) array of :class:`LoadIRVisPair` (visible B, G, R + infrared, float32
in [0, 255]), so the stock mmcv / mmdet / mmseg geometric transforms move both modalities and
the labels together. What they cannot do is handled here:

* :class:`VisibleOnly` runs photometric transforms (colour jitter, ``PhotoMetricDistortion``)
  on the three visible channels and leaves the infrared channel bit-identical;
* :class:`LoadPairedSegAnnotations` is mmseg's ``LoadAnnotations`` plus checks (single-channel
  class ids, label size equal to the image size, class ids in range) and the binarisation of
  saliency masks;
* :class:`PackPairedDetInputs` / :class:`PackPairedSegInputs` are mmdet's ``PackDetInputs``
  and mmseg's ``PackSegInputs`` (which pack an image of any channel count) with the pair's
  meta keys and a check that the input really is the 4-channel pair.
"""
from typing import List, Optional, Sequence, Union

import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets.transforms import PackDetInputs
from mmseg.datasets.transforms import LoadAnnotations as MMSegLoadAnnotations
from mmseg.datasets.transforms import PackSegInputs

from cldyn_mm.registry import TRANSFORMS

VIS_CHANNELS = slice(0, 3)

PAIR_META_KEYS = ('stem', 'ir_path', 'vi_path')


def _where(results: dict) -> str:
    return str(results.get('vi_path') or results.get('img_path') or results.get('ir_path'))


@TRANSFORMS.register_module()
class VisibleOnly(BaseTransform):
    """Apply ``transforms`` to the visible channels of the 4-channel pair only.

    The wrapped transforms see ``results['img']`` as the (H, W, 3) visible BGR image (float32,
    [0, 255]), as mmdet's / mmseg's ``PhotoMetricDistortion`` expect; afterwards the result is
    clipped to [0, 255] (``clip=True``), cast to float32 and stacked again with the untouched
    infrared channel, which stays bit-identical. The wrapped transforms must not change the
    image size (use geometric transforms outside the wrapper, where they move both modalities).
    Other keys they change (e.g. a flag in ``results``) are kept.

    Args:
        transforms (list[dict | callable]): Transforms (configs are built from the cldyn_mm
            registry, so use ``mmdet.PhotoMetricDistortion`` / ``mmseg.PhotoMetricDistortion``).
        clip (bool): Clip the visible result to [0, 255]. Defaults to True.
    """

    def __init__(self, transforms: Sequence[Union[dict, callable]], clip: bool = True) -> None:
        if isinstance(transforms, (dict, BaseTransform)) or callable(transforms):
            transforms = [transforms]
        if not transforms:
            raise ValueError('VisibleOnly needs at least one transform')
        self.transforms: List = []
        for t in transforms:
            if isinstance(t, dict):
                t = TRANSFORMS.build(t)
            if not callable(t):
                raise TypeError(f'VisibleOnly: {t!r} is not a transform')
            self.transforms.append(t)
        self.clip = clip

    def transform(self, results: dict) -> Optional[dict]:
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 4:
            raise ValueError(f'VisibleOnly expects the (H, W, 4) pair image of LoadIRVisPair, got '
                             f'shape {img.shape} for {_where(results)}')
        ir = img[..., 3:].copy()
        results['img'] = np.ascontiguousarray(img[..., VIS_CHANNELS], dtype=np.float32)
        for t in self.transforms:
            results = t(results)
            if results is None:
                return None
        vis = np.asarray(results['img'])
        if vis.ndim != 3 or vis.shape[2] != 3 or vis.shape[:2] != ir.shape[:2]:
            raise ValueError(
                f'VisibleOnly: the wrapped transforms turned the {ir.shape[1]}x{ir.shape[0]} '
                f'visible image into shape {vis.shape} for {_where(results)}; only photometric '
                'transforms (same size, 3 channels) may be wrapped')
        vis = vis.astype(np.float32)
        if self.clip:
            vis = np.clip(vis, 0., 255.)
        results['img'] = np.concatenate((vis, ir.astype(np.float32, copy=False)), axis=2)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(transforms={self.transforms}, clip={self.clip})'


@TRANSFORMS.register_module()
class LoadPairedSegAnnotations(MMSegLoadAnnotations):
    """mmseg's ``LoadAnnotations`` with checks and saliency-mask binarisation.

    Reads ``results['seg_map_path']`` into ``gt_seg_map`` (uint8 class ids) and applies the
    dataset's ``reduce_zero_label`` / ``label_map`` exactly like mmseg. In addition:

    * a label image with three identical channels is reduced to one; a colour label (channels
      differ) raises a ``ValueError`` naming the file (class-id images are expected);
    * binary masks (``results['seg_binary']`` set by the SOD datasets, or ``binary=True``):
      a mask whose maximum is above 1 (0/255 saliency maps, possibly anti-aliased) becomes
      ``value > 127``; a mask already in {0, 1} is kept; the result is 0/1;
    * a label whose size differs from the pair's original size (``results['ori_shape']`` set by
      ``LoadIRVisPair``, so put this transform after it; before or after ``Resize`` as in
      mmseg) raises a ``ValueError`` naming both files and sizes;
    * with ``results['num_classes']`` (set by the paired datasets), a class id that is neither
      below it nor ``ignore_index`` (255) raises a ``ValueError`` naming the file and values.

    Args:
        binary (bool): Binarise every mask (see above). Defaults to False (datasets decide).
        check_values (bool): Check class ids against ``num_classes``. Defaults to True.
        ignore_index (int): Label value that is allowed beyond the classes. Defaults to 255.
        **kwargs: mmseg ``LoadAnnotations`` arguments (``backend_args``, ``imdecode_backend``).
    """

    def __init__(self,
                 binary: bool = False,
                 check_values: bool = True,
                 ignore_index: int = 255,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.binary = binary
        self.check_values = check_values
        self.ignore_index = ignore_index

    def _read_label(self, path: str, binary: bool) -> np.ndarray:
        img_bytes = fileio.get(path, backend_args=self.backend_args)
        try:
            label = mmcv.imfrombytes(img_bytes, flag='unchanged', backend=self.imdecode_backend)
        except Exception as e:  # noqa: BLE001
            raise OSError(f'cannot decode label image {path}: {e}') from e
        if label is None:
            raise OSError(f'cannot decode label image {path}')
        if label.ndim == 3:
            if label.shape[2] == 1 or all(
                    np.array_equal(label[..., 0], label[..., c])
                    for c in range(1, min(label.shape[2], 3))):
                label = label[..., 0]
            else:
                raise ValueError(f'{path}: colour label image of shape {label.shape}; expected '
                                 'single-channel class ids (for FMB use Label/, not color/)')
        if binary:
            return ((label > 127) if label.max() > 1 else (label > 0)).astype(np.uint8)
        if label.max() > 255:
            raise ValueError(f'{path}: class id {int(label.max())} does not fit in uint8')
        return label.astype(np.uint8)

    def _load_seg_map(self, results: dict) -> None:
        path = results['seg_map_path']
        binary = self.binary or bool(results.get('seg_binary', False))
        gt = self._read_label(path, binary)
        shape = results.get('ori_shape') or (results['img'].shape[:2] if 'img' in results else None)
        if shape is not None:
            h, w = shape[:2]
            if gt.shape != (h, w):
                raise ValueError(f'label {path} is {gt.shape[1]}x{gt.shape[0]} but the image pair '
                                 f"{results.get('vi_path', results.get('img_path'))} is {w}x{h} "
                                 '(width x height); labels must have the image size')
        reduce_zero_label = results.get('reduce_zero_label', False)
        if self.reduce_zero_label is not None and self.reduce_zero_label != reduce_zero_label:
            raise ValueError(f'LoadPairedSegAnnotations(reduce_zero_label='
                             f'{self.reduce_zero_label}) but the dataset uses '
                             f'{reduce_zero_label}; set it on the dataset only')
        if reduce_zero_label:
            gt[gt == 0] = 255
            gt = gt - 1
            gt[gt == 254] = 255
        if results.get('label_map', None) is not None:
            copy = gt.copy()
            for old_id, new_id in results['label_map'].items():
                gt[copy == old_id] = new_id
        num_classes = results.get('num_classes')
        if self.check_values and num_classes:
            bad = (gt >= num_classes) & (gt != self.ignore_index)
            if bad.any():
                values = sorted(int(v) for v in np.unique(gt[bad]))[:10]
                raise ValueError(f'{path}: class id(s) {values} outside 0..{num_classes - 1} '
                                 f'(and not ignore index {self.ignore_index})')
        results['gt_seg_map'] = gt
        results.setdefault('seg_fields', []).append('gt_seg_map')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(binary={self.binary}, '
                f'check_values={self.check_values}, ignore_index={self.ignore_index})')


def _check_pair_image(results: dict, who: str) -> None:
    img = results.get('img')
    if img is None or img.ndim != 3 or img.shape[2] != 4:
        shape = None if img is None else img.shape
        raise ValueError(f'{who} expects the (H, W, 4) pair image of LoadIRVisPair (visible B, G, '
                         f'R + infrared), got {shape} for {_where(results)}')


@TRANSFORMS.register_module()
class PackPairedDetInputs(PackDetInputs):
    """mmdet's ``PackDetInputs`` for the 4-channel pair.

    ``inputs`` is (4, H, W) float32 (visible B, G, R, infrared; [0, 255]); the data sample is an
    ordinary ``DetDataSample`` (``gt_instances``, ``ignored_instances``). The default meta keys
    add ``stem``, ``ir_path``, ``vi_path`` and ``instances`` (the original-size boxes, which
    mmdet's ``CocoMetric`` needs when it has no ``ann_file``).
    """

    def __init__(
        self,
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                   'flip_direction', 'rot90_k', 'instances') + PAIR_META_KEYS
    ) -> None:
        super().__init__(meta_keys=tuple(meta_keys))

    def transform(self, results: dict) -> dict:
        _check_pair_image(results, self.__class__.__name__)
        return super().transform(results)


@TRANSFORMS.register_module()
class PackPairedSegInputs(PackSegInputs):
    """mmseg's ``PackSegInputs`` for the 4-channel pair.

    ``inputs`` is (4, H, W) float32 (visible B, G, R, infrared; [0, 255]); the data sample is an
    ordinary ``SegDataSample`` with ``gt_sem_seg``. The default meta keys add ``stem``,
    ``ir_path`` and ``vi_path``.
    """

    def __init__(
        self,
        meta_keys=('img_path', 'seg_map_path', 'ori_shape', 'img_shape', 'pad_shape',
                   'scale_factor', 'flip', 'flip_direction', 'rot90_k', 'reduce_zero_label') +
        PAIR_META_KEYS
    ) -> None:
        super().__init__(meta_keys=tuple(meta_keys))

    def transform(self, results: dict) -> dict:
        _check_pair_image(results, self.__class__.__name__)
        return super().transform(results)
