"""RSC, requirement-driven semantic compensation: one chain of A2SI blocks per modality.

A chain holds ``num_blocks`` A2SI blocks (the VFN's encoder blocks minus one, 3 with the
defaults); block i compensates the output of encoder block i before it enters block i + 1.
The basis vector bank is not part of a chain: it is shared by both chains and passed in.
Parameters with the defaults: 215,028 per block (64 of them the set prototypes), 645,084 per
chain (the spec's "about 645k").
"""
from typing import List, Optional, Union

from mmengine.model import BaseModule, ModuleList
from torch import Tensor

from cldyn_mm.registry import MODELS
from .a2si import A2SIBlock, TaskCodes, TaskSequence
from .bvb import BasisVectorBank
from .layers import InitCfg


@MODELS.register_module()
class RSCChain(BaseModule):
    """A chain of :class:`A2SIBlock` for one modality.

    Args:
        num_blocks (int): Number of A2SI blocks, the VFN's ``num_blocks - 1``. Defaults to 3.
        **block_cfg: Arguments of every :class:`A2SIBlock` (``embed_dim``, ``in_channels``,
            ``filter_num``, ``set_num``, ``vector_num``, ``proto_dim``, ``tau``, ``selection``,
            ``soft_temperature``, ``gumbel_noise``).
        init_cfg (dict | list[dict], optional): MMEngine initialisation of the chain, applied
            by ``init_weights()`` (the blocks then set their zero convs to zero again).
            Defaults to None.
    """

    def __init__(self, num_blocks: int = 3, init_cfg: InitCfg = None, **block_cfg) -> None:
        super().__init__(init_cfg=init_cfg)
        if num_blocks < 1:
            raise ValueError(f'RSCChain needs num_blocks >= 1, got {num_blocks}')
        self.blocks = ModuleList(A2SIBlock(**block_cfg) for _ in range(num_blocks))

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def check_bank(self, bank: BasisVectorBank) -> None:
        """Raise a ValueError naming the sizes when ``bank`` does not fit the blocks."""
        block = self.blocks[0]
        ours = (block.set_num, block.vector_num, block.embed_dim)
        theirs = (bank.set_num, bank.vector_num, bank.embed_dim)
        if ours != theirs:
            raise ValueError(f'the bank (set_num, vector_num, embed_dim) = {theirs} does not '
                             f'match the RSC blocks {ours}')

    def encode_task(self, seq: TaskSequence) -> List[TaskCodes]:
        """Codes of the task sequence for every block (they depend on T only)."""
        return [block.encode_task(seq) for block in self.blocks]

    def forward(self,
                bank: Tensor,
                task: Union[Tensor, TaskCodes],
                feat: Tensor,
                index: int,
                set_choice: Optional[Tensor] = None) -> Tensor:
        """Block ``index`` on ``feat`` (B, C, H, W) -> (B, C, H, W); see :class:`A2SIBlock`."""
        if not 0 <= index < self.num_blocks:
            raise IndexError(f'block index {index} out of range for {self.num_blocks} blocks')
        return self.blocks[index](bank, task, feat, set_choice=set_choice)
