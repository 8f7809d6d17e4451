"""Per-task gradient buffers for the closed loop: collect, all-reduce, combine, apply.

:class:`TaskGradientCombiner` keeps one flattened gradient (P,) per task for a fixed list of
parameters. Each task's gradient is all-reduced (mean over ranks) as soon as it is added, so
in a distributed run every rank combines the same, global, per-task gradients. Gradients
added over several iterations (gradient accumulation) are summed per task, and the CAGrad
combination (:func:`cagrad_weights`) runs once, on the accumulated gradients, when the
optimizer steps -- so accumulating k micro-batches on one process gives the same update as k
processes with one micro-batch each.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine import dist
from torch import Tensor

from .cagrad import cagrad_weights


def all_ranks_agree(ok: bool, device: Optional[torch.device] = None) -> bool:
    """True when ``ok`` is True on every rank: one all-reduce when torch.distributed runs
    with several processes, ``ok`` itself otherwise. Lets all ranks take the same branch
    (e.g. skip a step) so that their collectives stay paired."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()
            and dist.get_world_size() > 1):
        return ok
    flag = torch.tensor([0.0 if ok else 1.0], device=device)
    torch_dist.all_reduce(flag, op=torch_dist.ReduceOp.SUM)
    return float(flag) == 0.0


class TaskGradientCombiner:
    """Task gradients of ``params`` and their CAGrad-style combination.

    Args:
        params (list[nn.Parameter]): The trainable parameters (fixed order).
        lam (float): CAGrad's lam (spec: 0.5). Further CAGrad settings: ``steps``, ``lr``,
            ``eps`` (see :func:`cagrad_weights`).
    """

    def __init__(self, params: Sequence[nn.Parameter], lam: float = 0.5, **cagrad_kwargs) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError('TaskGradientCombiner needs at least one parameter')
        self.numel = sum(p.numel() for p in self.params)
        self.lam = lam
        self.cagrad_kwargs = cagrad_kwargs
        self.buffers: Dict[str, Tensor] = {}

    def flatten(self, grads: Sequence[Optional[Tensor]]) -> Tensor:
        """(P,) float32 vector of ``grads`` (one entry per parameter; None = zeros)."""
        if len(grads) != len(self.params):
            raise ValueError(f'expected {len(self.params)} gradients, got {len(grads)}')
        parts = [
            torch.zeros(p.numel(), device=p.device, dtype=torch.float32)
            if g is None else g.detach().reshape(-1).float() for p, g in zip(self.params, grads)
        ]
        return torch.cat(parts)

    def add(self, task: str, grads: Sequence[Optional[Tensor]]) -> Tensor:
        """Add a task's gradients (all-reduced to the mean over ranks); returns the reduced
        flat gradient of this call."""
        flat = self.flatten(grads)
        if torch_dist.is_available() and torch_dist.is_initialized() \
                and dist.get_world_size() > 1:
            torch_dist.all_reduce(flat, op=torch_dist.ReduceOp.SUM)
            flat /= dist.get_world_size()
        if task in self.buffers:
            self.buffers[task] += flat
        else:
            self.buffers[task] = flat
        return flat

    def reset(self) -> None:
        self.buffers = {}

    @property
    def tasks(self) -> List[str]:
        return list(self.buffers)

    def combine(self) -> Tuple[Tensor, Dict[str, float], List[str]]:
        """``(combined (P,), alpha per task, zero_tasks)``.

        Tasks whose accumulated gradient is exactly zero are left out of the weighting (they
        get alpha 0 and are listed in ``zero_tasks``): a zero row would otherwise win the
        min-norm problem and stop every other task's update. When all are zero the combined
        gradient is zero.
        """
        if not self.buffers:
            raise RuntimeError('no task gradients were added before combine()')
        names = list(self.buffers)
        zero = [n for n in names if not torch.any(self.buffers[n] != 0)]
        live = [n for n in names if n not in zero]
        alpha = {n: 0.0 for n in names}
        if not live:
            return torch.zeros_like(self.buffers[names[0]]), alpha, zero
        grads = torch.stack([self.buffers[n] for n in live])
        weights = cagrad_weights(grads, lam=self.lam, **self.cagrad_kwargs)
        combined = weights @ grads
        alpha.update({n: float(w) for n, w in zip(live, weights)})
        return combined, alpha, zero

    def write_grads(self, flat: Tensor) -> None:
        """Set every parameter's ``.grad`` to its slice of ``flat`` (P,)."""
        if flat.numel() != self.numel:
            raise ValueError(f'flat gradient has {flat.numel()} entries, expected {self.numel}')
        offset = 0
        for p in self.params:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).to(p.dtype).clone()
            offset += n


def clip_grad_groups(groups: Dict[str, Sequence[nn.Parameter]],
                     max_norm: Optional[float],
                     scale: float = 1.0) -> Dict[str, float]:
    """Clip the gradient norm of each parameter group separately to ``max_norm`` (None:
    measure the norms only).

    ``scale``: the loss scale the gradients carry (AMP); the threshold becomes
    ``max_norm * scale``, which equals clipping the unscaled gradients to ``max_norm``.
    Returns the norm of each group before clipping (unscaled).
    """
    norms = {}
    for name, params in groups.items():
        with_grad = [p for p in params if p.grad is not None]
        if not with_grad:
            norms[name] = 0.0
            continue
        if max_norm is None:
            norm = torch.linalg.vector_norm(
                torch.stack([torch.linalg.vector_norm(p.grad.detach()) for p in with_grad]))
        else:
            norm = nn.utils.clip_grad_norm_(with_grad, max_norm * scale)
        norms[name] = float(norm) / scale
    return norms
