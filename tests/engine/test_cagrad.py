"""Closed-loop building blocks (spec section 4): CAGrad task weights, reward-penalty loss."""
import itertools

import pytest
import torch

from cldyn_mm.engine.multitask import cagrad_weights, combine_task_gradients, project_to_simplex
from cldyn_mm.models.losses import RewardPenaltyLoss, reward_penalty_loss


def test_simplex_projection_known_cases():
    assert torch.allclose(
        project_to_simplex(torch.tensor([0.2, 0.3, 0.5])), torch.tensor([0.2, 0.3, 0.5]))
    assert torch.allclose(project_to_simplex(torch.tensor([2.0, 0.0])), torch.tensor([1.0, 0.0]))
    # (1, 1, -1): theta = 0.5 -> (0.5, 0.5, 0)
    assert torch.allclose(
        project_to_simplex(torch.tensor([1.0, 1.0, -1.0])), torch.tensor([0.5, 0.5, 0.0]))


def test_one_task_is_its_own_gradient():
    g = torch.randn(1, 7)
    combined, alpha = combine_task_gradients(g)
    assert alpha.tolist() == [1.0] and torch.equal(combined, g[0])


# The objective (spec section 4, the research code's step alpha - 0.1 (Q alpha + c)):
#   f(alpha) = (1/2) alpha^T Q alpha + c^T alpha = alpha^T GG alpha + c^T alpha   (eps -> 0),
#   Q = 2 (GG + eps I), c = -2 lam rowmin(GG), lam = 0.5.


def test_orthogonal_gradients_of_unequal_norm_hand_solved():
    # g1 = e1, g2 = 2 e2: GG = diag(1, 4), rowmin = 0, c = 0.
    # min a1^2 + 4 a2^2 with a1 + a2 = 1  ->  a1 = 4 a2  ->  alpha = (0.8, 0.2)
    g = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    alpha = cagrad_weights(g)
    assert torch.allclose(alpha, torch.tensor([0.8, 0.2]), atol=1e-5)
    combined, _ = combine_task_gradients(g)
    assert torch.allclose(combined, torch.tensor([0.8, 0.4]), atol=1e-5)


def test_two_conflicting_tasks_hand_solved():
    # g1 = (1, 0), g2 = (-0.5, 1): GG = [[1, -0.5], [-0.5, 1.25]], rowmin = (-0.5, -0.5), so
    # c^T alpha = 0.5 on the simplex. alpha = (t, 1 - t):
    # f = t^2 - t (1 - t) + 1.25 (1 - t)^2 + 0.5,  f' = 6.5 t - 3.5 = 0  ->  t = 7/13
    g = torch.tensor([[1.0, 0.0], [-0.5, 1.0]])
    assert torch.allclose(cagrad_weights(g), torch.tensor([7 / 13, 6 / 13]), atol=1e-5)


def test_three_tasks_hand_solved_where_the_old_objective_differs():
    # g1 = e1, g2 = e2, g3 = (0.5, 0.5, sqrt(0.5)): unit norms, GG = [[1, 0, .5], [0, 1, .5],
    # [.5, .5, 1]], rowmin = (0, 0, 0.5), c = (0, 0, -0.5). By symmetry alpha = (u, u, 1 - 2u):
    #   research objective  alpha^T GG alpha + c^T alpha = 2u^2 - u + 0.5      -> u = 1/4
    #   old text's          2 alpha^T GG alpha + c^T alpha = 4u^2 - 3u + 1.5   -> u = 3/8
    g = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.5**0.5]])
    alpha = cagrad_weights(g, lam=0.5)
    assert torch.allclose(alpha, torch.tensor([0.25, 0.25, 0.5]), atol=1e-5)
    assert not torch.allclose(alpha, torch.tensor([0.375, 0.375, 0.25]), atol=1e-2)


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
        return float(0.5 * a @ quad @ a + c @ a)

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
