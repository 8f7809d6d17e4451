"""Sobel gradient magnitudes used by VFN (FRB1) and by the VFN loss."""
import torch
import torch.nn.functional as F

_SOBEL_X = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]])
_SOBEL_Y = _SOBEL_X.t().contiguous()


def _sobel_kernels(channels: int, like: torch.Tensor, scale: float) -> torch.Tensor:
    k = torch.stack((_SOBEL_X, _SOBEL_Y)) * scale  # (2, 3, 3)
    k = k.to(dtype=like.dtype, device=like.device)
    return k[:, None].repeat(channels, 1, 1, 1)  # (2C, 1, 3, 3), x then y per channel


def sobel_l1(x: torch.Tensor, normalized: bool, padding_mode: str) -> torch.Tensor:
    """``|Sobel_x * x| + |Sobel_y * x|`` per channel, same spatial size.

    Args:
        x (Tensor): (B, C, H, W).
        normalized (bool): Divide the kernels by 8 (kornia ``spatial_gradient`` default).
        padding_mode (str): ``'replicate'`` (kornia) or ``'zeros'`` (the VFN loss).

    Returns:
        Tensor: (B, C, H, W), non-negative. Cross-correlation, as ``F.conv2d`` and kornia do.
    """
    c = x.shape[1]
    k = _sobel_kernels(c, x, 1 / 8 if normalized else 1.)
    if padding_mode == 'zeros':
        g = F.conv2d(x, k, padding=1, groups=c)
    else:
        g = F.conv2d(F.pad(x, (1, 1, 1, 1), mode=padding_mode), k, groups=c)
    g = g.unflatten(1, (c, 2)).abs()
    return g[:, :, 0] + g[:, :, 1]
