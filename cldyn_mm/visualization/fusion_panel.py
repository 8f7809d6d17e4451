"""Image helpers of the panels: tensors to uint8 RGB tiles, titles, concatenation.

The panels themselves are drawn by the registered visualizers of
:mod:`cldyn_mm.visualization.fusion_visualizer`."""
from typing import Sequence

import cv2
import numpy as np
import torch


def to_uint8_rgb(img) -> np.ndarray:
    """(C, H, W) tensor/array in [0, 1] with C in {1, 3} -> (H, W, 3) uint8 RGB."""
    if isinstance(img, torch.Tensor):
        img = img.detach().float().cpu().numpy()
    img = np.asarray(img, dtype=np.float32)
    if img.ndim == 2:
        img = img[None]
    if img.shape[0] == 1:
        img = np.repeat(img, 3, axis=0)
    # contiguous: OpenCV drawing (mmseg's labels, titles) refuses transposed views
    return np.ascontiguousarray(
        (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0))


def put_title(tile: np.ndarray, title: str) -> np.ndarray:
    """``title`` in the top-left corner of ``tile`` (H, W, 3) uint8 (white on a black
    outline, within the top 20 rows); returns the (contiguous) tile."""
    tile = np.ascontiguousarray(tile)
    for colour, thickness in (((0, 0, 0), 2), ((255, 255, 255), 1)):
        cv2.putText(tile, title, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, thickness,
                    cv2.LINE_AA)
    return tile


def concat_tiles(tiles: Sequence[np.ndarray], gap: int = 4) -> np.ndarray:
    """(H, W_i, 3) uint8 tiles left to right with white ``gap``-pixel separators."""
    h = tiles[0].shape[0]
    if any(t.shape[0] != h for t in tiles):
        raise ValueError(f'panel tiles must share a height, got {[t.shape for t in tiles]}')
    sep = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for i, t in enumerate(tiles):
        parts += ([sep] if i and gap else []) + [t]
    return np.concatenate(parts, axis=1)


def make_panel(images: Sequence, gap: int = 4) -> np.ndarray:
    """Concatenate equally tall images (each (C, H, W) in [0, 1]) left to right, white gaps."""
    return concat_tiles([to_uint8_rgb(x) for x in images], gap)
