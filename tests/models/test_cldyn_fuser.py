"""CLDyNFuser: frozen VFN + RSC chains, built from configs/cldyn/cldyn_vfn-rsc_pairs.py."""
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from cldyn_mm.models import CLDyNFuser, VFNFuser
from cldyn_mm.registry import MODELS

CONFIG = Path(__file__).resolve().parents[2] / 'configs' / 'cldyn' / 'cldyn_vfn-rsc_pairs.py'
VFN_PARAMS = 46_617
CHAIN_PARAMS = 645_084

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def build(seed=0, **overrides) -> CLDyNFuser:
    torch.manual_seed(seed)
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.update(overrides)
    return MODELS.build(cfg.model)


def activate(model: CLDyNFuser, seed=0) -> CLDyNFuser:
    """Give the zero convs random weights so that the compensation is not the identity."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for chain in (model.rsc_ir, model.rsc_vis):
            for block in chain.blocks:
                block.zero_conv.weight.copy_(0.3 *
                                             torch.randn(block.zero_conv.weight.shape, generator=g))
    return model


def inputs(batch=2, h=11, w=13, seed=0):
    g = torch.Generator().manual_seed(seed)
    ir = torch.rand(batch, 1, h, w, generator=g)
    vis = torch.rand(batch, 3, h, w, generator=g)
    from cldyn_mm.utils.colour import rgb_to_ycbcr
    return dict(ir=ir, vis=vis, vis_ycbcr=rgb_to_ycbcr(vis))


def task(batch=2, seed=1, shape=(5, 3, 4)):
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))


def test_config_builds_with_spec_sizes():
    model = build()
    assert isinstance(model, CLDyNFuser)
    assert sum(p.numel() for p in model.fusion_net.parameters()) == VFN_PARAMS
    groups = model.trainable_parameter_groups()
    assert sum(p.numel() for p in groups['rsc_ir']) == CHAIN_PARAMS
    assert sum(p.numel() for p in groups['rsc_vis']) == CHAIN_PARAMS
    assert sum(p.numel() for p in groups['bank']) == 128 * 256
    assert sum(p.numel() for p in model.trainable_parameters()) == 2 * CHAIN_PARAMS + 32_768
    assert all(p.requires_grad for p in model.trainable_parameters())
    assert not any(p.requires_grad for p in model.fusion_net.parameters())


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_new_model_compensated_output_equals_plain_vfn_exactly(mode):
    model = build()  # in train mode (Gumbel sampling) too the zero convs give exactly zero
    model.train(mode == 'train')
    x, t = inputs(), task()
    plain = model.fuse_y(x)
    assert torch.equal(model.fuse_y(x, task_feat=t), plain)
    assert torch.equal(model.fuse_y(x, task_feat=t[0, :2, :1]), plain)  # any shape of T
    assert torch.equal(plain, model.fusion_net(x['ir'], x['vis_ycbcr'][:, :1]))


@pytest.mark.parametrize('mode', ['eval', 'train'])
def test_shared_first_encoder_block_gives_the_same_fusion(mode):
    """The closed loop computes the VFN's encoder block 0 once for F0 and F1."""
    model = activate(build())
    model.train(mode == 'train')
    for chain in (model.rsc_ir, model.rsc_vis):
        for block in chain.blocks:
            block.gumbel_noise = False
    x, t = inputs(), task()
    with torch.no_grad():
        first = model.encode_first_block(x)
        assert torch.equal(model.fuse_y(x, first_block=first), model.fuse_y(x))
        assert torch.equal(
            model.fuse_y(x, task_feat=t, first_block=first), model.fuse_y(x, task_feat=t))


def test_vfn_stays_frozen_and_in_eval_mode():
    model = build().train()
    assert model.training and model.rsc_ir.training and model.bank.training
    assert not any(m.training for m in model.fusion_net.modules())
    stats = model.fusion_net.ir_encoder.stem[0].bn.running_mean.clone()
    activate(model)
    model.fuse_y(inputs(), task_feat=task())
    assert torch.equal(model.fusion_net.ir_encoder.stem[0].bn.running_mean, stats)


def test_gradient_reaches_rsc_and_bank_but_not_vfn():
    model = activate(build()).train()
    out = model.fuse_y(inputs(), task_feat=task())
    out.mean().backward()
    assert all(p.grad is None for p in model.fusion_net.parameters())
    assert model.bank.weight.grad is not None and model.bank.weight.grad.any()
    for chain in (model.rsc_ir, model.rsc_vis):
        for block in chain.blocks:
            assert block.zero_conv.weight.grad.any()
            assert block.selector.joint[3].weight.grad.any()  # straight-through set choice
            assert block.kernel_3x3[3].weight.grad is not None


def test_compensation_changes_output_and_eval_is_deterministic():
    model = activate(build()).eval()
    x, t = inputs(), task()
    with torch.no_grad():
        a = model.fuse_y(x, task_feat=t)
        b = model.fuse_y(x, task_feat=t)
        plain = model.fuse_y(x)
    assert torch.equal(a, b)
    assert (a - plain).abs().max() > 1e-4
    assert a.shape == (2, 1, 11, 13) and 0 <= a.min() and a.max() <= 1


def test_batch_equals_single_samples_and_task_feature_broadcast():
    model = activate(build()).eval()
    x, t = inputs(batch=3, h=9, w=15), task(batch=3)
    with torch.no_grad():
        batched = model.fuse_y(x, task_feat=t)
        for i in range(3):
            one = {k: v[i:i + 1] for k, v in x.items()}
            torch.testing.assert_close(
                batched[i:i + 1], model.fuse_y(one, task_feat=t[i]), atol=1e-5, rtol=0)
        shared = t[:1]
        expected = model.fuse_y(x, task_feat=shared.expand(3, -1, -1, -1))
        torch.testing.assert_close(model.fuse_y(x, task_feat=shared), expected, atol=1e-6, rtol=0)
        torch.testing.assert_close(
            model.fuse_y(x, task_feat=shared[0]), expected, atol=1e-6,
            rtol=0)  # (C, H, W) as tools/fuse.py may pass
    with pytest.raises(ValueError, match=r'task_feat must have shape'):
        model.fuse_y(x, task_feat=task(batch=2))


def test_fuse_and_tensor_mode_accept_task_feature():
    model = activate(build()).eval()
    x, t = inputs(), task(batch=1)
    with torch.no_grad():
        out = model.fuse(x, task_feat=t)
        assert out['fused'].shape == (2, 3, 11, 13)
        assert torch.equal(model(x, mode='tensor', task_feat=t), out['fused'])


def test_bf16_autocast_close_to_float32():
    model = activate(build()).eval()
    x, t = inputs(h=16, w=16), task()
    with torch.no_grad():
        ref = model.fuse_y(x, task_feat=t)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = model.fuse_y(x, task_feat=t)
    assert torch.isfinite(low).all()
    assert (low.float() - ref).abs().max() < 0.05


def test_vfn_checkpoint_is_loaded_strictly(tmp_path):
    torch.manual_seed(7)
    vfn_model = VFNFuser()
    with torch.no_grad():
        for p in vfn_model.parameters():
            p.add_(0.01)
    ckpt = tmp_path / 'vfn.pth'
    torch.save(dict(meta=dict(epoch=1), state_dict=vfn_model.state_dict()), ckpt)
    model = build(vfn_checkpoint=str(ckpt))
    loaded = model.fusion_net.state_dict()
    for k, v in vfn_model.fusion_net.state_dict().items():
        assert torch.equal(loaded[k], v), k
    assert not any(p.requires_grad for p in model.fusion_net.parameters())

    other = tmp_path / 'other.pth'
    torch.save(dict(state_dict={'backbone.w': torch.zeros(1)}), other)
    with pytest.raises(ValueError, match='other.pth.*fusion_net'):
        build(vfn_checkpoint=str(other))
    small = tmp_path / 'small.pth'
    torch.save(
        dict(
            state_dict={
                'fusion_net.' + k: v
                for k, v in MODELS.build(dict(type='VFN', num_blocks=2)).state_dict().items()
            }), small)
    with pytest.raises(RuntimeError, match='small.pth does not fit'):
        build(vfn_checkpoint=str(small))
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        build(vfn_checkpoint=str(tmp_path / 'missing.pth'))


def test_inconsistent_config_is_refused():
    with pytest.raises(ValueError, match='num_blocks'):
        build(rsc=dict(type='RSCChain', num_blocks=2))
    with pytest.raises(ValueError, match='bank'):
        build(bank=dict(type='BasisVectorBank', vector_num=16))
    assert isinstance(build().bank, nn.Module)
