"""Colour conversion between RGB and YCbCr (ITU-R BT.601, full range), as CLDyN fuses on Y.

All functions take and return float tensors in [0, 1] with the channel axis at ``dim=-3``
(shape ``(..., 3, H, W)``); Cb and Cr carry the 128/255 = 0.5 offset.
"""
import torch

# BT.601 luma weights
_KR, _KG, _KB = 0.299, 0.587, 0.114


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """RGB (..., 3, H, W) in [0, 1] -> YCbCr (..., 3, H, W), Y in [0, 1], Cb/Cr in [0, 1]."""
    if rgb.shape[-3] != 3:
        raise ValueError(f'rgb_to_ycbcr expects 3 channels at dim -3, got shape {tuple(rgb.shape)}')
    r, g, b = rgb.unbind(-3)
    y = _KR * r + _KG * g + _KB * b
    cb = (b - y) / (2 * (1 - _KB)) + 0.5
    cr = (r - y) / (2 * (1 - _KR)) + 0.5
    return torch.stack((y, cb, cr), dim=-3)


def ycbcr_to_rgb(ycbcr: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr`; the result is clamped to [0, 1] unless ``clamp=False``."""
    if ycbcr.shape[-3] != 3:
        raise ValueError(
            f'ycbcr_to_rgb expects 3 channels at dim -3, got shape {tuple(ycbcr.shape)}')
    y, cb, cr = ycbcr.unbind(-3)
    cb = cb - 0.5
    cr = cr - 0.5
    r = y + 2 * (1 - _KR) * cr
    b = y + 2 * (1 - _KB) * cb
    g = (y - _KR * r - _KB * b) / _KG
    rgb = torch.stack((r, g, b), dim=-3)
    return rgb.clamp(0, 1) if clamp else rgb


def merge_fused_y(fused_y: torch.Tensor, vis_ycbcr: torch.Tensor) -> torch.Tensor:
    """Colour fused image: fused Y (..., 1, H, W) with the visible Cb, Cr -> RGB in [0, 1]."""
    return ycbcr_to_rgb(torch.cat((fused_y, vis_ycbcr[..., 1:, :, :]), dim=-3))
