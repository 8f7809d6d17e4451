"""Side-by-side panels of infrared, visible and fused images."""
from typing import Sequence

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
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(1, 2, 0)


def make_panel(images: Sequence, gap: int = 4) -> np.ndarray:
    """Concatenate equally sized images (each (C, H, W) in [0, 1]) left to right, white gaps."""
    tiles = [to_uint8_rgb(x) for x in images]
    h = tiles[0].shape[0]
    if any(t.shape[0] != h for t in tiles):
        raise ValueError(f'panel tiles must share a height, got {[t.shape for t in tiles]}')
    sep = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for i, t in enumerate(tiles):
        parts += ([sep] if i else []) + [t]
    return np.concatenate(parts, axis=1)
