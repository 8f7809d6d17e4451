import pytest
import torch

from cldyn_mm.utils.colour import merge_fused_y, rgb_to_ycbcr, ycbcr_to_rgb


def test_known_values():
    rgb = torch.tensor([[1., 0., 0.], [0., 1., 0.], [0., 0., 1.], [1., 1., 1.], [0., 0., 0.]])
    ycc = rgb_to_ycbcr(rgb[:, :, None, None])[:, :, 0, 0]
    # BT.601 full range: Y = .299 R + .587 G + .114 B; Cb, Cr centred on 0.5
    assert torch.allclose(ycc[:, 0], torch.tensor([.299, .587, .114, 1., 0.]), atol=1e-6)
    assert torch.allclose(ycc[3, 1:], torch.tensor([.5, .5]), atol=1e-6)
    assert torch.allclose(ycc[0, 2], torch.tensor(1.0), atol=1e-6)  # pure red: Cr = 1
    assert torch.allclose(ycc[2, 1], torch.tensor(1.0), atol=1e-6)  # pure blue: Cb = 1
    # reference: JPEG/OpenCV YCrCb for 8-bit values (Cb = 128 + (B - Y) * 0.564)
    r, g, b = 0.8, 0.3, 0.1
    y = 0.299 * r + 0.587 * g + 0.114 * b
    got = rgb_to_ycbcr(torch.tensor([r, g, b])[:, None, None]).flatten()
    assert got[1].item() == pytest.approx(0.5 + 0.564 * (b - y), abs=1e-3)
    assert got[2].item() == pytest.approx(0.5 + 0.713 * (r - y), abs=1e-3)


def test_round_trip_batch():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(3, 3, 17, 23, generator=g)
    back = ycbcr_to_rgb(rgb_to_ycbcr(rgb))
    assert torch.allclose(back, rgb, atol=1e-6)


def test_merge_keeps_colour_when_y_is_unchanged():
    rgb = torch.rand(2, 3, 8, 9)
    ycc = rgb_to_ycbcr(rgb)
    assert torch.allclose(merge_fused_y(ycc[:, :1], ycc), rgb, atol=1e-6)
    brighter = merge_fused_y(torch.ones(2, 1, 8, 9), ycc)
    assert brighter.min() >= 0 and brighter.max() <= 1


def test_wrong_channel_count_is_refused():
    with pytest.raises(ValueError, match='3 channels'):
        rgb_to_ycbcr(torch.rand(1, 4, 5, 5))
