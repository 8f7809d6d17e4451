"""BVB, the basis vector bank of RSC (spec section 3), and its orthogonal initialisation."""
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch import Tensor

from cldyn_mm.registry import MODELS
from .layers import InitCfg


def orthogonal_rows(num_rows: int, dim: int) -> Tensor:
    """A (num_rows, dim) float32 matrix initialised as the research code's ``make_bank``.

    A (dim, num_rows) matrix is initialised with :func:`torch.nn.init.orthogonal_` and
    transposed, so the rows are orthonormal when ``num_rows <= dim``; then every row is scaled
    to unit L2 norm (this matters when ``num_rows > dim``, where rows cannot be orthogonal).
    """
    if num_rows < 1 or dim < 1:
        raise ValueError(f'orthogonal_rows needs positive sizes, got ({num_rows}, {dim})')
    w = torch.empty(dim, num_rows)
    nn.init.orthogonal_(w)
    w = w.t().contiguous()
    return w / w.norm(dim=1, keepdim=True)


@MODELS.register_module()
class BasisVectorBank(BaseModule):
    """S sets of V trainable basis vectors of dimension D, shared by both RSC chains.

    Stored as one parameter ``weight`` of shape (S * V, D) (the research checkpoint's ``bvb``),
    initialised by :func:`orthogonal_rows` (rows orthonormal, then unit norm). ``forward()``
    returns the (S, V, D) view used by the A2SI blocks (no copy, gradients reach ``weight``).

    Args:
        set_num (int): S, the number of sets (kernel shapes). Defaults to 4.
        vector_num (int): V, basis vectors per set. Defaults to 32.
        embed_dim (int): D, the dimension of a basis vector. Defaults to 256.
        init_cfg (dict | list[dict], optional): MMEngine initialisation applied by
            ``init_weights()``. Defaults to None: the construction-time init above (random,
            so ``init_weights()`` does not redo it).
    """

    def __init__(self,
                 set_num: int = 4,
                 vector_num: int = 32,
                 embed_dim: int = 256,
                 init_cfg: InitCfg = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.set_num = set_num
        self.vector_num = vector_num
        self.embed_dim = embed_dim
        self.weight = nn.Parameter(orthogonal_rows(set_num * vector_num, embed_dim))

    def forward(self) -> Tensor:
        """The bank as (S, V, D)."""
        return self.weight.view(self.set_num, self.vector_num, self.embed_dim)

    def extra_repr(self) -> str:
        return f'set_num={self.set_num}, vector_num={self.vector_num}, embed_dim={self.embed_dim}'
