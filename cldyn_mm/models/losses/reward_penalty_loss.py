"""The closed loop's reward-penalty loss (spec section 4, step 3)."""
from typing import Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from cldyn_mm.registry import MODELS


def reward_penalty_loss(loss_comp: Tensor,
                        loss_plain: Union[Tensor, float],
                        penalty_weight: float = 5.0) -> Tensor:
    """``L1 + w * relu(L1 - L0)``.

    Args:
        loss_comp (Tensor): L1, the task loss on the compensated fusion (with gradient).
        loss_plain (Tensor | float): L0, the task loss on the plain VFN fusion (a constant;
            detached here).
        penalty_weight (float): w, default 5: compensation that makes the task worse than
            the plain fusion is punished w times more.
    """
    loss_plain = torch.as_tensor(
        loss_plain, dtype=loss_comp.dtype, device=loss_comp.device).detach()
    return loss_comp + penalty_weight * F.relu(loss_comp - loss_plain)


@MODELS.register_module()
class RewardPenaltyLoss(nn.Module):
    """Module form of :func:`reward_penalty_loss` (``penalty_weight`` configurable)."""

    def __init__(self, penalty_weight: float = 5.0) -> None:
        super().__init__()
        if penalty_weight < 0:
            raise ValueError(f'penalty_weight must be >= 0, got {penalty_weight}')
        self.penalty_weight = penalty_weight

    def forward(self, loss_comp: Tensor, loss_plain: Union[Tensor, float]) -> Tensor:
        return reward_penalty_loss(loss_comp, loss_plain, self.penalty_weight)
