"""The IoU loss of salient object detection, as an mmseg decode-head loss."""
from typing import Optional

import torch.nn as nn
from torch import Tensor

from cldyn_mm.registry import MODELS


def saliency_map(logits: Tensor) -> Tensor:
    """Saliency probability (B, H, W) from 1-channel (sigmoid) or 2-channel (softmax) logits."""
    if logits.dim() != 4 or logits.shape[1] not in (1, 2):
        raise ValueError('saliency logits must be (B, 1, H, W) (sigmoid) or (B, 2, H, W) '
                         f'(softmax), got {tuple(logits.shape)}')
    if logits.shape[1] == 1:
        return logits[:, 0].sigmoid()
    return logits.softmax(dim=1)[:, 1]


@MODELS.register_module()
class SaliencyIoULoss(nn.Module):
    """Soft IoU loss on a saliency map (BASNet / F3Net style), per image, averaged.

    ``loss_i = 1 - (sum p g + smooth) / (sum (p + g - p g) + smooth)`` over the valid pixels of
    image i (label != ``ignore_index``), with ``p`` the predicted saliency (sigmoid of
    1-channel logits or softmax channel 1 of 2-channel logits) and ``g`` the binary label.
    ``smooth`` (default 1, as F3Net) keeps images without salient pixels finite: an all-zero
    prediction on an empty mask gives 0.

    Plugs into an mmseg decode head (``loss_decode=[dict(type='mmseg.CrossEntropyLoss',
    use_sigmoid=True), dict(type='cldyn_mm.SaliencyIoULoss')]``): called as
    ``loss(seg_logits, seg_label, weight=None, ignore_index=255)``.

    Args:
        smooth (float): Smoothing term. Defaults to 1.0.
        loss_weight (float): Weight of the loss. Defaults to 1.0.
        loss_name (str): Name of the loss item (must start with ``loss_``).
            Defaults to ``'loss_iou'``.
    """

    def __init__(self,
                 smooth: float = 1.0,
                 loss_weight: float = 1.0,
                 loss_name: str = 'loss_iou') -> None:
        super().__init__()
        if not loss_name.startswith('loss_'):
            raise ValueError(f"loss_name must start with 'loss_', got {loss_name!r}")
        self.smooth = float(smooth)
        self.loss_weight = float(loss_weight)
        self._loss_name = loss_name

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: int = 255,
                **kwargs) -> Tensor:
        p = saliency_map(pred)
        if target.dim() == 4:
            target = target[:, 0]
        if target.shape != p.shape:
            raise ValueError(f'saliency labels {tuple(target.shape)} and predictions '
                             f'{tuple(p.shape)} differ in size')
        valid = (target != ignore_index).to(p.dtype)
        if weight is not None:
            valid = valid * weight.to(p.dtype)
        g = (target == 1).to(p.dtype) * valid
        p = p * valid
        inter = (p * g).flatten(1).sum(1)
        union = (p + g - p * g).flatten(1).sum(1)
        loss = 1. - (inter + self.smooth) / (union + self.smooth)
        return self.loss_weight * loss.mean()

    @property
    def loss_name(self) -> str:
        return self._loss_name
