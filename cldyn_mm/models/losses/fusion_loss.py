"""The unsupervised loss that trains VFN (spec section 2)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from cldyn_mm.models.fusion.gradients import sobel_l1
from cldyn_mm.registry import MODELS


@MODELS.register_module()
class VFNLoss(nn.Module):
    """``w_int * L1(F, max(IR, Y)) + w_grad * L1(S(F), max(S(IR), S(Y)))``.

    ``S(x) = |Sobel_x * x| + |Sobel_y * x|`` with the plain 3x3 Sobel kernels and zero
    padding. All inputs (B, 1, H, W) in [0, 1]; L1 is the mean absolute error.

    Args:
        intensity_weight (float): Defaults to 0.2.
        gradient_weight (float): Defaults to 1.0.
    """

    def __init__(self, intensity_weight: float = 0.2, gradient_weight: float = 1.0) -> None:
        super().__init__()
        self.intensity_weight = intensity_weight
        self.gradient_weight = gradient_weight

    def forward(self, fused: torch.Tensor, ir: torch.Tensor, vis_y: torch.Tensor) -> dict:
        loss_int = F.l1_loss(fused, torch.maximum(ir, vis_y))
        grad_target = torch.maximum(sobel_l1(ir, False, 'zeros'), sobel_l1(vis_y, False, 'zeros'))
        loss_grad = F.l1_loss(sobel_l1(fused, False, 'zeros'), grad_target)
        return dict(
            loss_int=self.intensity_weight * loss_int, loss_grad=self.gradient_weight * loss_grad)
