import numpy as np
import pytest
import torch

from cldyn_mm.models.losses import VFNLoss


def _grad(x):
    """|Sobel_x * x| + |Sobel_y * x| with zero padding, by hand."""
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)
    p = np.pad(x, 1)
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            w = p[i:i + 3, j:j + 3]
            out[i, j] = abs((w * kx).sum()) + abs((w * kx.T).sum())
    return out


def test_loss_matches_hand_computation():
    rng = np.random.default_rng(0)
    f, ir, y = (rng.random((6, 5)) for _ in range(3))
    want_int = 0.2 * np.abs(f - np.maximum(ir, y)).mean()
    want_grad = 1.0 * np.abs(_grad(f) - np.maximum(_grad(ir), _grad(y))).mean()
    t = [torch.from_numpy(a)[None, None] for a in (f, ir, y)]
    got = VFNLoss()(*t)
    assert got['loss_int'].item() == pytest.approx(want_int, rel=1e-10)
    assert got['loss_grad'].item() == pytest.approx(want_grad, rel=1e-10)


def test_tiny_hand_example():
    # fused = 0, ir = 1 at one pixel: intensity term = 0.2 * 1 / 9
    ir = torch.zeros(1, 1, 3, 3)
    ir[0, 0, 1, 1] = 1
    out = VFNLoss()(torch.zeros_like(ir), ir, torch.zeros_like(ir))
    assert out['loss_int'].item() == pytest.approx(0.2 / 9)
    # the Sobel responses of a single impulse: |kx| + |ky| mirrored = 2 + 2 + 0 around it
    # sum over the 3x3 grid: corners 1+1, edges 2+0 -> 4 * 2 + 4 * 2 = 16 -> mean 16 / 9
    assert out['loss_grad'].item() == pytest.approx(16 / 9)


def test_weights_scale_terms():
    t = [torch.rand(1, 1, 8, 8) for _ in range(3)]
    a, b = VFNLoss()(*t), VFNLoss(0.4, 3.0)(*t)
    assert b['loss_int'].item() == pytest.approx(2 * a['loss_int'].item())
    assert b['loss_grad'].item() == pytest.approx(3 * a['loss_grad'].item())
