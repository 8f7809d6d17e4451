"""CAGrad-style weighting of per-task gradients for the closed loop (spec section 4).

Given the flattened gradients of T tasks, ``G`` of shape (T, P), CLDyN weights them with
alpha on the probability simplex. With Q = 2 (G G^T + eps I) and c = -2 * lam * rowmin(G G^T),
the research code takes ``steps`` projected steps

    alpha <- proj_simplex(alpha - lr (Q alpha + c))

from the uniform weights, i.e. it minimises (1/2) alpha^T Q alpha + c^T alpha
= alpha^T (G G^T + eps I) alpha + c^T alpha, and applies ``sum_t alpha_t g_t``. With one task
alpha = [1]. (An earlier spec text wrote the objective without the 1/2; that halves the
effective lam and moves alpha for three tasks -- the research code is the reference.)

One change from a literal reading: ``G G^T`` is divided by the mean squared gradient norm
(as the original CAGrad code does) before the descent. Q and c both scale with ``G G^T``, so
the minimiser is the same, but with raw gradients of norm ~10 the fixed step 0.1 overshoots
and the iterates jump between simplex corners instead of converging (tested).
"""
from typing import Tuple

import torch
from torch import Tensor


def project_to_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of a vector (T,) onto {x >= 0, sum x = 1}.

    The sort-based algorithm (Held et al. 1974; Duchi et al. 2008): exact, O(T log T).
    """
    if v.dim() != 1 or v.numel() == 0:
        raise ValueError(f'project_to_simplex expects a non-empty vector, got shape '
                         f'{tuple(v.shape)}')
    u, _ = torch.sort(v, descending=True)
    css = torch.cumsum(u, 0) - 1
    k = torch.arange(1, v.numel() + 1, dtype=v.dtype, device=v.device)
    rho = int(torch.nonzero(u - css / k > 0).max())
    theta = css[rho] / (rho + 1)
    return torch.clamp(v - theta, min=0)


def cagrad_weights(grads: Tensor,
                   lam: float = 0.5,
                   steps: int = 250,
                   lr: float = 0.1,
                   eps: float = 1e-8) -> Tensor:
    """Task weights alpha (T,) on the simplex for the task gradients ``grads`` (T, P).

    Computed in float64 from the Gram matrix ``G G^T`` (T x T), so the cost does not depend
    on P beyond one matrix product.
    """
    if grads.dim() != 2 or grads.shape[0] == 0:
        raise ValueError(f'grads must have shape (T, P) with T >= 1, got {tuple(grads.shape)}')
    num_tasks = grads.shape[0]
    if num_tasks == 1:
        return torch.ones(1, dtype=grads.dtype, device=grads.device)
    g = grads.detach().double()
    gg = g @ g.t()
    scale = gg.diagonal().mean()
    if scale > 0:
        gg = gg / scale
    quad = 2 * (gg + eps * torch.eye(num_tasks, dtype=gg.dtype, device=gg.device))
    c = -2 * lam * gg.min(dim=1).values
    alpha = torch.full((num_tasks, ), 1.0 / num_tasks, dtype=gg.dtype, device=gg.device)
    for _ in range(steps):
        alpha = project_to_simplex(alpha - lr * (quad @ alpha + c))
    return alpha.to(grads.dtype)


def combine_task_gradients(grads: Tensor, **kwargs) -> Tuple[Tensor, Tensor]:
    """``(sum_t alpha_t g_t (P,), alpha (T,))`` for task gradients ``grads`` (T, P)."""
    alpha = cagrad_weights(grads, **kwargs)
    return alpha @ grads, alpha
