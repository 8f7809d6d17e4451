"""Closed-loop building blocks (spec section 4): CAGrad task weights, reward-penalty loss."""
import itertools

import pytest
import torch

from cldyn_mm.engine.multitask import (cagrad_weights, combine_task_gradients,
                                       project_to_simplex)
from cldyn_mm.models.losses import RewardPenaltyLoss, reward_penalty_loss


def test_simplex_projection_known_cases():
    assert torch.allclose(project_to_simplex(torch.tensor([0.2, 0.3, 0.5])),
                          torch.tensor([0.2, 0.3, 0.5]))
    assert torch.allclose(project_to_simplex(torch.tensor([2.0, 0.0])), torch.tensor([1.0, 0.0]))
    # (1, 1, -1): theta = 0.5 -> (0.5, 0.5, 0)
    assert torch.allclose(project_to_simplex(torch.tensor([1.0, 1.0, -1.0])),
                          torch.tensor([0.5, 0.5, 0.0]))


def test_one_task_is_its_own_gradient():
    g = torch.randn(1, 7)
    combined, alpha = combine_task_gradients(g)
    assert alpha.tolist() == [1.0] and torch.equal(combined, g[0])


def test_orthogonal_gradients_of_unequal_norm_hand_solved():
    # g1 = e1, g2 = 2 e2: GG = diag(1, 4), rowmin = 0, c = 0.
    # min 2 (a1^2 + 4 a2^2) with a1 + a2 = 1  ->  a1 = 4 a2  ->  alpha = (0.8, 0.2)
    g = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    alpha = cagrad_weights(g)
    assert torch.allclose(alpha, torch.tensor([0.8, 0.2]), atol=1e-5)
    combined, _ = combine_task_gradients(g)
    assert torch.allclose(combined, torch.tensor([0.8, 0.4]), atol=1e-5)


def test_equal_orthogonal_gradients_get_equal_weights():
    g = torch.eye(3) * 3
    assert torch.allclose(cagrad_weights(g), torch.full((3, ), 1 / 3), atol=1e-6)


def test_matches_a_brute_force_search_on_the_simplex():
    torch.manual_seed(0)
    g = torch.randn(3, 50, dtype=torch.float64)
    lam = 0.5
    gg = g @ g.t()
    quad = 2 * (gg + 1e-8 * torch.eye(3, dtype=torch.float64))
    c = -2 * lam * gg.min(dim=1).values

    def objective(a):
        return float(a @ quad @ a + c @ a)

    n = 200
    best = min((objective(torch.tensor([i / n, j / n, (n - i - j) / n], dtype=torch.float64)), i, j)
               for i, j in itertools.product(range(n + 1), repeat=2) if i + j <= n)
    alpha = cagrad_weights(g, lam=lam)
    assert alpha.min() >= 0 and abs(float(alpha.sum()) - 1) < 1e-9
    assert objective(alpha) <= best[0] + 1e-6


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match=r'\(T, P\)'):
        cagrad_weights(torch.zeros(5))
    with pytest.raises(ValueError, match='non-empty'):
        project_to_simplex(torch.zeros(0))


def test_reward_penalty_loss():
    l0 = torch.tensor(1.0)
    better = torch.tensor(0.8, requires_grad=True)
    assert float(reward_penalty_loss(better, l0)) == pytest.approx(0.8)
    worse = torch.tensor(1.2, requires_grad=True)
    loss = RewardPenaltyLoss(penalty_weight=5.0)(worse, l0)
    assert float(loss) == pytest.approx(1.2 + 5 * 0.2)
    loss.backward()
    assert float(worse.grad) == pytest.approx(6.0)  # 1 + w: the penalty is active
    with pytest.raises(ValueError, match='penalty_weight'):
        RewardPenaltyLoss(penalty_weight=-1)
