import numpy as np
import pytest
import torch

from cldyn_mm.models.fusion import VFN, sobel_l1
from cldyn_mm.registry import MODELS


def test_parameter_count_matches_spec():
    assert sum(p.numel() for p in VFN().parameters()) == 46617


@pytest.mark.parametrize('size', [(2, 2), (37, 53), (64, 48)])
def test_any_size_in_unit_range(size):
    torch.manual_seed(0)
    net = VFN().eval()
    ir, y = torch.rand(2, 1, *size), torch.rand(2, 1, *size)
    out = net(ir, y)
    assert out.shape == (2, 1, *size)
    assert out.min() >= 0 and out.max() <= 1


def test_block_by_block_equals_forward():
    torch.manual_seed(0)
    net = VFN().eval()
    ir, y = torch.rand(1, 1, 20, 30), torch.rand(1, 1, 20, 30)
    h_ir, h_vi = ir, y
    for i in range(net.num_blocks):
        h_ir, h_vi = net.encode_block(h_ir, h_vi, i)
    assert torch.equal(net.fuse_features(h_ir, h_vi), net(ir, y))


def test_registered():
    assert isinstance(MODELS.build(dict(type='VFN')), VFN)


def _sobel_reference(x: np.ndarray, scale: float, mode: str) -> np.ndarray:
    kx = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float) * scale
    ky = kx.T
    p = np.pad(x, 1, mode='edge' if mode == 'replicate' else 'constant')
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            win = p[i:i + 3, j:j + 3]
            out[i, j] = abs((win * kx).sum()) + abs((win * ky).sum())
    return out


@pytest.mark.parametrize('normalized,mode', [(True, 'replicate'), (False, 'zeros')])
def test_sobel_against_loops(normalized, mode):
    x = np.random.default_rng(1).random((7, 9))
    got = sobel_l1(torch.from_numpy(x)[None, None], normalized, mode)[0, 0].numpy()
    want = _sobel_reference(x, 1 / 8 if normalized else 1., mode)
    np.testing.assert_allclose(got, want, atol=1e-12)
