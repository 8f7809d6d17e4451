"""Reading images into the grey convention of the fusion metrics.

The convention (``shared/spec/metrics.md``): read the file, convert colour to grey with
OpenCV's BGR->GRAY weights (0.299 R + 0.587 G + 0.114 B) and round to integers. As in the
reference evaluator the conversion runs in float32 on the 8-bit values and is then rounded
(half to even), which can differ by one grey level from OpenCV's integer ``uint8`` conversion.
"""
import os
from typing import Optional, Union

import cv2
import numpy as np
import torch

__all__ = ['load_grey', 'rgb_float_to_grey', 'IMAGE_EXTENSIONS']

#: File extensions the evaluation tools pick up (lower case, with the dot).
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')


def load_grey(path: Union[str, os.PathLike], backend_args: Optional[dict] = None) -> np.ndarray:
    """Read an image file as grey levels in the metrics' convention.

    The bytes come through ``mmengine.fileio`` (local files, or any storage backend given by
    ``backend_args``) and are decoded by ``mmcv.imfrombytes`` with OpenCV in colour (BGR; a grey
    file becomes three equal channels, 16-bit files are reduced to 8 bits, alpha is dropped),
    as ``cv2.imread`` would; then cast to float32, ``cv2.COLOR_BGR2GRAY``, ``np.round``.

    Args:
        path: image file (a local path or a URI of the backend).
        backend_args: ``mmengine.fileio`` backend arguments; None = local disk.

    Returns:
        np.ndarray: ``(H, W)`` float64 with integer values in 0..255.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: OpenCV cannot decode it.
    """
    from mmcv.image import imfrombytes
    from mmengine import fileio
    path = os.fspath(path)
    try:
        data = fileio.get(path, backend_args=backend_args)
    except FileNotFoundError:
        raise FileNotFoundError(f'image file not found: {path}') from None
    bgr = imfrombytes(data, flag='color', backend='cv2')
    if bgr is None:
        raise ValueError(f'OpenCV could not read {path} as an image')
    grey = np.round(cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2GRAY))
    return grey.astype(np.float64)


def rgb_float_to_grey(img) -> np.ndarray:
    """A fused image tensor as the metrics would see it after saving it as an 8-bit file.

    ``uint8(round(clip(x * 255, 0, 255)))``, then RGB -> grey with OpenCV's weights (the same
    float32 conversion and rounding as :func:`load_grey`, so saving the image and reading it
    back gives identical grey levels).

    Args:
        img (Tensor | np.ndarray): ``(3, H, W)`` RGB in [0, 1] (channels first, as the fusion
            models return ``pred_fused``); ``(1, H, W)`` or ``(H, W)`` grey in [0, 1].

    Returns:
        np.ndarray: ``(H, W)`` float64 grey levels in 0..255.
    """
    if isinstance(img, torch.Tensor):
        img = img.detach().to('cpu', torch.float32).numpy()
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 3 and img.shape[0] == 1:
        img = img[0]
    if img.ndim == 2:
        return np.round(np.clip(img * 255.0, 0, 255)).astype(np.float64)
    if img.ndim != 3 or img.shape[0] != 3:
        raise ValueError(f'expected a (3, H, W) RGB or (H, W) grey image in [0, 1], got shape '
                         f'{img.shape}')
    u8 = np.round(np.clip(img * 255.0, 0, 255)).astype(np.uint8)
    rgb = np.ascontiguousarray(u8.transpose(1, 2, 0)).astype(np.float32)
    return np.round(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)).astype(np.float64)
