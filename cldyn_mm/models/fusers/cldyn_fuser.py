"""CLDyN compensated fusion: the frozen VFN with an RSC chain per modality (spec section 3)."""
import copy
from typing import Dict, List, Optional

import torch.nn as nn
from torch import Tensor

from cldyn_mm.registry import MODELS
from cldyn_mm.utils.checkpoint import read_checkpoint
from ..fusion.a2si import task_sequence
from .base_fuser import BaseFuser

VFN_PREFIX = 'fusion_net.'


def load_vfn_state_dict(path: str) -> Dict[str, Tensor]:
    """The VFN weights of a checkpoint written by this project's VFN training.

    ``path`` is an MMEngine checkpoint of :class:`VFNFuser` (or of :class:`CLDyNFuser`): its
    ``state_dict`` keys that start with ``fusion_net.`` are returned without that prefix.
    Loaded with ``weights_only=True`` (MMEngine's logging classes allowlisted).
    """
    state, _ = read_checkpoint(path, 'vfn_checkpoint')
    vfn_state = {k[len(VFN_PREFIX):]: v for k, v in state.items() if k.startswith(VFN_PREFIX)}
    if not vfn_state:
        raise ValueError(f'vfn_checkpoint {path} has no "{VFN_PREFIX}*" weights; expected a '
                         'checkpoint of a VFN config (configs/vfn/*.py). For a checkpoint of the '
                         'research code, run '
                         'tools/model_converters/convert_official_ckpt.py first.')
    return vfn_state


@MODELS.register_module()
class CLDyNFuser(BaseFuser):
    """VFN fusion, compensated for a downstream task by RSC.

    The VFN is frozen (``requires_grad=False``, always in eval mode, also under
    ``model.train()``). Trainable: ``rsc_ir``, ``rsc_vis`` (one :class:`RSCChain` each) and the
    shared ``bank`` (:class:`BasisVectorBank`); see :meth:`trainable_parameter_groups`.

    ``fuse_y(inputs, task_feat=None)``: without a task feature, the plain VFN fused Y. With a
    task feature T, for block i = 0..N-1: (f_ir, f_vis) = encoder block i of (h_ir, h_vis);
    for i < N-1, h = A2SI_i(f) in each chain; then the VFN's fusion and decoder. A new model
    (zero convs at zero) gives exactly the plain VFN output.

    Args:
        fusion_net (dict): VFN config. Defaults to ``dict(type='VFN')``.
        rsc (dict): Config of one RSC chain, built twice (ir, vis). Defaults to
            ``dict(type='RSCChain')`` (3 blocks, spec defaults).
        bank (dict): Config of the bank. Defaults to ``dict(type='BasisVectorBank')``.
        vfn_checkpoint (str, optional): MMEngine checkpoint of a VFN model (``fusion_net.*``
            keys) loaded strictly into the VFN at construction.
        data_preprocessor (dict): Defaults to ``dict(type='PairedDataPreprocessor')``.
    """

    def __init__(self,
                 fusion_net: Optional[dict] = None,
                 rsc: Optional[dict] = None,
                 bank: Optional[dict] = None,
                 vfn_checkpoint: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='PairedDataPreprocessor'),
            init_cfg=init_cfg)
        self.fusion_net = MODELS.build(fusion_net or dict(type='VFN'))
        rsc = rsc or dict(type='RSCChain')
        self.rsc_ir = MODELS.build(copy.deepcopy(rsc))
        self.rsc_vis = MODELS.build(copy.deepcopy(rsc))
        self.bank = MODELS.build(bank or dict(type='BasisVectorBank'))
        if self.rsc_ir.num_blocks != self.fusion_net.num_blocks - 1:
            raise ValueError(f'rsc.num_blocks must be the VFN num_blocks - 1 = '
                             f'{self.fusion_net.num_blocks - 1}, got {self.rsc_ir.num_blocks}')
        if self.rsc_ir.blocks[0].in_channels != self.fusion_net.channels:
            raise ValueError(f'rsc in_channels ({self.rsc_ir.blocks[0].in_channels}) must equal '
                             f'the VFN channels ({self.fusion_net.channels})')
        self.rsc_ir.check_bank(self.bank)
        self.vfn_checkpoint = vfn_checkpoint
        if vfn_checkpoint is not None:
            self.load_vfn_checkpoint(vfn_checkpoint)
        self.fusion_net.requires_grad_(False)
        self.fusion_net.eval()

    def load_vfn_checkpoint(self, path: str) -> None:
        """Load the VFN weights of a VFN training checkpoint strictly (see
        :func:`load_vfn_state_dict`); the error names the file."""
        try:
            self.fusion_net.load_state_dict(load_vfn_state_dict(path))
        except RuntimeError as e:
            raise RuntimeError(f'vfn_checkpoint {path} does not fit the VFN of the config: '
                               f'{e}') from e

    def init_weights(self) -> None:
        """MMEngine's init (``init_cfg`` of the fuser and its parts; the RSC zero convs end at
        zero), then ``vfn_checkpoint`` is loaded again: an init never replaces the VFN."""
        super().init_weights()
        if self.vfn_checkpoint is not None:
            self.load_vfn_checkpoint(self.vfn_checkpoint)

    def train(self, mode: bool = True) -> 'CLDyNFuser':
        """Set train/eval mode; the frozen VFN stays in eval mode."""
        super().train(mode)
        self.fusion_net.eval()
        return self

    def trainable_parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """``{'rsc_ir': [...], 'rsc_vis': [...], 'bank': [...]}``: what closed-loop training
        updates (the spec clips the gradient norm of each chain separately)."""
        return dict(
            rsc_ir=list(self.rsc_ir.parameters()),
            rsc_vis=list(self.rsc_vis.parameters()),
            bank=list(self.bank.parameters()))

    def prototype_parameters(self) -> List[nn.Parameter]:
        """The A2SI set prototypes (S, 16) of every block of both chains."""
        return [
            block.selector.prototypes for chain in (self.rsc_ir, self.rsc_vis)
            for block in chain.blocks
        ]

    def trainable_parameters(self) -> List[nn.Parameter]:
        """All trainable parameters (both chains, then the bank), in a fixed order."""
        return [p for group in self.trainable_parameter_groups().values() for p in group]

    @staticmethod
    def batch_task_feature(task_feat: Tensor, batch: int) -> Tensor:
        """A task feature as (B_t, C_t, H_t, W_t) with B_t in {1, batch}.

        (C, H, W) gets a batch dimension; a batch of one is broadcast over the images later.
        """
        if not isinstance(task_feat, Tensor):
            raise TypeError(f'task_feat must be a tensor, got {type(task_feat).__name__}')
        if task_feat.dim() == 3:
            task_feat = task_feat[None]
        if task_feat.dim() != 4 or task_feat.shape[0] not in (1, batch):
            raise ValueError(f'task_feat must have shape (C, H, W), (1, C, H, W) or ({batch}, '
                             f'C, H, W) for a batch of {batch} images, got '
                             f'{tuple(task_feat.shape)}')
        return task_feat

    def encode_first_block(self, inputs: Dict[str, Tensor]) -> List[Tensor]:
        """``[f_ir, f_vis]``, each (B, C, H, W): the VFN's encoder block 0 of both modalities.

        RSC acts only after it, so the plain and the compensated fusion of the same inputs
        share it (``first_block`` of :meth:`fuse_y`); the closed loop computes it once."""
        return self.fusion_net.encode_block(inputs['ir'], inputs['vis_ycbcr'][:, :1], 0)

    def fuse_y(self,
               inputs: Dict[str, Tensor],
               task_feat: Optional[Tensor] = None,
               first_block: Optional[List[Tensor]] = None) -> Tensor:
        """Fused Y (B, 1, H, W) in [0, 1]; compensated for ``task_feat`` when it is given.

        ``first_block``: the result of :meth:`encode_first_block` for these inputs, if it
        was computed already (the same values as computing it here)."""
        ir, vis_y = inputs['ir'], inputs['vis_ycbcr'][:, :1]
        vfn = self.fusion_net
        if task_feat is None:
            if first_block is None:
                return vfn(ir, vis_y)
            f_ir, f_vis = first_block
            for i in range(1, vfn.num_blocks):
                f_ir, f_vis = vfn.encode_block(f_ir, f_vis, i)
            return vfn.fuse_features(f_ir, f_vis)
        task_feat = self.batch_task_feature(task_feat, ir.shape[0])
        seq = task_sequence(task_feat.to(device=ir.device, dtype=ir.dtype))
        codes_ir, codes_vis = self.rsc_ir.encode_task(seq), self.rsc_vis.encode_task(seq)
        bank = self.bank()
        h_ir, h_vis = ir, vis_y
        last = vfn.num_blocks - 1
        for i in range(vfn.num_blocks):
            if i == 0 and first_block is not None:
                f_ir, f_vis = first_block
            else:
                f_ir, f_vis = vfn.encode_block(h_ir, h_vis, i)
            if i < last:
                h_ir = self.rsc_ir(bank, codes_ir[i], f_ir, i)
                h_vis = self.rsc_vis(bank, codes_vis[i], f_vis, i)
        return vfn.fuse_features(f_ir, f_vis)
