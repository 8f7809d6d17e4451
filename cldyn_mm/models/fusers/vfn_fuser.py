"""VFN as a trainable MMEngine model (stage 1 of CLDyN)."""
from typing import Dict, Optional

from torch import Tensor

from cldyn_mm.registry import MODELS
from .base_fuser import BaseFuser


@MODELS.register_module()
class VFNFuser(BaseFuser):
    """Train and run the visually guided fusion network with its unsupervised loss.

    Args:
        fusion_net (dict): Config of the network. Defaults to ``dict(type='VFN')``.
        loss (dict): Config of the loss. Defaults to ``dict(type='VFNLoss')``.
        data_preprocessor (dict): Defaults to ``dict(type='PairedDataPreprocessor')``.
    """

    def __init__(self,
                 fusion_net: Optional[dict] = None,
                 loss: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='PairedDataPreprocessor'),
            init_cfg=init_cfg)
        self.fusion_net = MODELS.build(fusion_net or dict(type='VFN'))
        self.loss_module = MODELS.build(loss or dict(type='VFNLoss'))

    def fuse_y(self, inputs: Dict[str, Tensor], task_feat: Optional[Tensor] = None) -> Tensor:
        if task_feat is not None:
            raise ValueError(f'{type(self).__name__} does not use a task feature; use a CLDyN '
                             'fusion config (configs/cldyn/cldyn_vfn-rsc_pairs.py) for '
                             'compensation')
        return self.fusion_net(inputs['ir'], inputs['vis_ycbcr'][:, :1])

    def loss(self, inputs: Dict[str, Tensor], data_samples=None) -> dict:
        fused_y = self.fuse_y(inputs)
        return self.loss_module(fused_y, inputs['ir'], inputs['vis_ycbcr'][:, :1])
