"""Writing images: one atomic writer for every image file the package produces."""
import os
import os.path as osp

import numpy as np


def write_image_atomic(path: str, img: np.ndarray) -> None:
    """Write an image (BGR or grey, uint8 / uint16) with ``mmcv.imwrite``, encoded by the
    extension of ``path``, through a temporary file and a rename (never a half-written file)."""
    from mmcv.image import imwrite
    stem, ext = osp.splitext(path)
    tmp = f'{stem}.partial{ext}'
    if not imwrite(img, tmp, auto_mkdir=False):
        raise OSError(f'cannot write {tmp}')
    os.replace(tmp, path)
