"""Loading of an infrared / visible pair into one aligned image.

Both modalities are stacked into a single array ``results['img']`` of shape (H, W, 4), float32
in [0, 255]: channels 0-2 are the visible image in BGR order (the OpenCV / mmcv convention, so
mmdet and mmseg photometric transforms see what they expect) and channel 3 is the infrared
image. Because every geometric transform of mmcv, mmdet and mmseg (resize, crop, flip, pad,
mosaic, ...) transforms ``img`` as a whole, both modalities stay aligned by construction.
:class:`cldyn_mm.models.PairedDataPreprocessor` splits the channels again.
"""
from typing import Optional

import cv2
import mmcv
import mmengine.fileio as fileio
import numpy as np
from mmcv.transforms import BaseTransform

from cldyn_mm.registry import TRANSFORMS

IR_CHANNEL = 3


def _to_unit_range(img: np.ndarray, path: str, normalize: str) -> np.ndarray:
    """Scale an 8/16-bit (or float in [0, 1]) image to float32 [0, 1]."""
    if normalize == 'minmax':
        img = img.astype(np.float32)
        lo, hi = float(img.min()), float(img.max())
        return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.
    if img.dtype == np.uint16:
        return img.astype(np.float32) / 65535.
    if img.dtype in (np.float32, np.float64):
        if img.min() < 0 or img.max() > 1:
            raise ValueError(f'{path}: floating-point image values must lie in [0, 1], found '
                             f'[{img.min():g}, {img.max():g}]; use ir_normalize="minmax"')
        return img.astype(np.float32)
    raise ValueError(f'{path}: unsupported pixel type {img.dtype} (use 8-bit, 16-bit or float)')


def read_image(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """The image file ``path`` as stored (8/16-bit, grey or BGR(A); OpenCV's ``IMREAD_UNCHANGED``
    decoding), read through ``mmengine.fileio`` so that ``backend_args`` (e.g. a Petrel or
    HTTP backend) reach remote storage, with a clear error for missing/unreadable files."""
    try:
        content = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise FileNotFoundError(f'image file not found: {path}') from None
    except IsADirectoryError:
        raise FileNotFoundError(f'image file not found (a folder): {path}') from None
    img = mmcv.imfrombytes(content, flag='unchanged', backend='cv2') if content else None
    if img is None or img.size == 0:
        raise OSError(f'cannot decode image file (corrupt or unsupported format): {path}')
    return img


def check_image_array(img, name: str) -> np.ndarray:
    """Raise unless ``img`` is a non-empty (H, W) or (H, W, 1/3/4) numpy array."""
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{name}: expected an image as a numpy array, got {type(img).__name__}')
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 3, 4)) \
            or img.size == 0:
        raise ValueError(f'{name}: expected an (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) '
                         f'image, got shape {img.shape}')
    return img


def ir_to_unit(img: np.ndarray,
               name: str = 'infrared array',
               normalize: str = 'dtype') -> np.ndarray:
    """An infrared image array (H, W), (H, W, 1) or (H, W, 3/4) BGR(A); uint8, uint16 or float
    in [0, 1]) as float32 (H, W) in [0, 1]; colour is reduced to grey. ``name`` (a file path or
    a description) goes into error messages."""
    img = check_image_array(img, name)
    if img.ndim == 3:
        if img.shape[2] == 4:
            img = img[..., :3]
        img = img[..., 0] if img.shape[2] == 1 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return _to_unit_range(img, name, normalize)


def visible_to_unit(img: np.ndarray, name: str = 'visible array') -> np.ndarray:
    """A visible image array ((H, W, 3) BGR as cv2 reads it, (H, W, 4) BGRA, or (H, W) /
    (H, W, 1) grey; uint8, uint16 or float in [0, 1]) as float32 (H, W, 3) BGR in [0, 1];
    grey is replicated 3 times."""
    img = check_image_array(img, name)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    elif img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif img.shape[2] == 4:
        img = img[..., :3]
    return _to_unit_range(img, name, 'dtype')


def load_ir(path: str, normalize: str = 'dtype', backend_args: Optional[dict] = None) -> np.ndarray:
    """Infrared image as float32 (H, W) in [0, 1]; 3-/4-channel files are reduced to grey."""
    return ir_to_unit(read_image(path, backend_args), path, normalize)


def load_visible(path: str, backend_args: Optional[dict] = None) -> np.ndarray:
    """Visible image as float32 (H, W, 3) BGR in [0, 1]; a grey file is replicated 3 times."""
    return visible_to_unit(read_image(path, backend_args), path)


@TRANSFORMS.register_module()
class LoadIRVisPair(BaseTransform):
    """Load ``results['ir_path']`` and ``results['vi_path']`` into one (H, W, 4) image.

    Required keys: ``ir_path``, ``vi_path``; or, per modality, for images already in memory
    (the inferencer's arrays), ``ir_img`` / ``vis_img`` (numpy arrays as :func:`ir_to_unit` /
    :func:`visible_to_unit` take them: infrared (H, W) / (H, W, 1) / (H, W, 3), visible
    (H, W, 3) BGR or grey; uint8, uint16 or float in [0, 1]), which win over the paths and
    are removed from ``results``.
    Added keys: ``img`` (H, W, 4) float32 in [0, 255] (visible B, G, R, infrared),
    ``img_shape``, ``ori_shape`` (H, W), ``img_path`` (the visible file, for visualizers; not
    set for arrays).

    Args:
        ir_normalize (str): ``'dtype'`` divides by the pixel type's maximum (255 for 8-bit,
            65535 for 16-bit); ``'minmax'`` stretches each infrared image to [0, 1] (for raw
            16-bit thermal data that uses a small part of the range). Defaults to 'dtype'.
        backend_args (dict, optional): ``mmengine.fileio`` backend arguments for reading the
            files (as mmcv's ``LoadImageFromFile`` takes them). Defaults to None (local files).
    """

    def __init__(self, ir_normalize: str = 'dtype', backend_args: Optional[dict] = None) -> None:
        if ir_normalize not in ('dtype', 'minmax'):
            raise ValueError(f"ir_normalize must be 'dtype' or 'minmax', got {ir_normalize!r}")
        self.ir_normalize = ir_normalize
        self.backend_args = backend_args.copy() if backend_args else None

    def transform(self, results: dict) -> Optional[dict]:
        if 'ir_img' in results:
            ir_path = results.get('ir_path') or 'infrared array'
            ir = ir_to_unit(results.pop('ir_img'), ir_path, self.ir_normalize)
        else:
            ir_path = results['ir_path']
            ir = load_ir(ir_path, self.ir_normalize, self.backend_args)
        if 'vis_img' in results:
            vi_path = results.get('vi_path') or 'visible array'
            vis = visible_to_unit(results.pop('vis_img'), vi_path)
        else:
            vi_path = results['vi_path']
            vis = load_visible(vi_path, self.backend_args)
        if ir.shape[:2] != vis.shape[:2]:
            raise ValueError(
                f'infrared and visible images differ in size: {ir_path} is '
                f'{ir.shape[1]}x{ir.shape[0]}, {vi_path} is {vis.shape[1]}x{vis.shape[0]} '
                '(width x height); the pair must be registered to the same size')
        img = np.concatenate((vis, ir[..., None]), axis=2) * 255.
        results['img'] = img.astype(np.float32)
        if results.get('vi_path'):
            results['img_path'] = vi_path
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(ir_normalize={self.ir_normalize!r}, '
                f'backend_args={self.backend_args!r})')
