"""The fusion networks as MMEngine BaseModules with mmcv ConvModules (state-dict version 2).

Checks the PyTorch-default initialisation of the conv blocks, ``init_cfg`` / ``init_weights``,
the BN folding of A2SI on ConvModules, and that state dicts of the earlier nn.Sequential layout
(version 1; made here by renaming the keys back with independent rules) still load strictly,
with the same outputs, through every loader.
"""
import re
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.runner import load_checkpoint

from cldyn_mm.engine.hooks import CheckpointCompatibilityHook
from cldyn_mm.models import CLDyNFuser, VFNFuser
from cldyn_mm.models.fusion import VFN, A2SIBlock, BasisVectorBank, RSCChain
from cldyn_mm.models.fusion.a2si import _folded_stages
from cldyn_mm.models.fusion.layers import DefaultInitConvModule, conv_block, upgrade_legacy_keys
from cldyn_mm.utils.colour import rgb_to_ycbcr

pytestmark = pytest.mark.usefixtures('one_torch_thread')

# new -> old names: ConvModule stage j -> nn.Sequential indices 3j (conv) and 3j + 1 (BN);
# the decoder's last conv was index 3 of ``out``
TO_LEGACY = [
    (r'\.(stem|img_embed|out)\.0\.conv\.', r'.\1.0.'),
    (r'\.(stem|img_embed|out)\.0\.bn\.', r'.\1.1.'),
    (r'\.(stem|img_embed|out)\.1\.conv\.', r'.\1.3.'),
    (r'\.(stem|img_embed)\.1\.bn\.', r'.\1.4.'),
    (r'\.(conv1|conv2|head|img_code)\.conv\.', r'.\1.0.'),
    (r'\.(conv1|conv2|head|img_code)\.bn\.', r'.\1.1.'),
]


def legacy(state):
    """``state`` in the version-1 key layout, as a plain dict (no version metadata)."""
    out = {}
    for key, value in state.items():
        old = '.' + key
        for pattern, repl in TO_LEGACY:
            old = re.sub(pattern, repl, old)
        out[old[1:]] = value
    return out


def randomised(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in model.state_dict().items():
            if value.is_floating_point():
                value.add_(0.1 * torch.randn(value.shape, generator=g))
                if key.endswith('running_var'):
                    value.abs_().add_(0.5)
    return model


def inputs(batch=2, h=13, w=17):
    g = torch.Generator().manual_seed(1)
    vis = torch.rand(batch, 3, h, w, generator=g)
    return (dict(ir=torch.rand(batch, 1, h, w, generator=g), vis=vis,
                 vis_ycbcr=rgb_to_ycbcr(vis)), torch.randn(1, 4, 3, 5, generator=g))


def test_layout_names_and_parameter_count():
    vfn = VFN()
    assert sum(p.numel() for p in vfn.parameters()) == 46_617
    keys = set(vfn.state_dict())
    for key in ('ir_encoder.stem.0.conv.weight', 'ir_encoder.stem.0.conv.bias',
                'ir_encoder.stem.1.bn.running_var', 'vis_encoder.blocks.3.conv2.conv.bias',
                'decoder.head.bn.num_batches_tracked', 'decoder.out.0.bn.weight',
                'decoder.out.1.conv.weight', 'decoder.out.1.conv.bias'):
        assert key in keys, key
    blocks = [m for m in vfn.modules() if isinstance(m, ConvModule)]
    assert len(blocks) == 2 * (2 + 4 * 2) + (1 + 4 * 2 + 2)  # encoders, decoder
    assert all(  # the project's modules; mmcv's ConvModule is an nn.Module
        isinstance(m, BaseModule) for m in vfn.modules()
        if type(m).__module__.startswith('cldyn_mm') and not isinstance(m, ConvModule))
    a2si = A2SIBlock()
    assert isinstance(a2si.selector.img_code, ConvModule)
    assert 'selector.img_code.conv.weight' in a2si.state_dict()
    assert 'basis_filter.img_embed.1.bn.running_mean' in a2si.state_dict()
    assert a2si.selector.img_code.conv.bias is None  # conv without bias before the BN
    for module in (VFN(), a2si, RSCChain(), BasisVectorBank()):
        assert isinstance(module, BaseModule)


def test_conv_block_keeps_pytorch_default_init_and_random_stream():
    torch.manual_seed(5)
    block = conv_block(8, 4, padding_mode='reflect')
    after = torch.rand(4)
    torch.manual_seed(5)
    ref = nn.Conv2d(8, 4, 3, padding=1, padding_mode='reflect')
    assert torch.equal(torch.rand(4), after)
    assert torch.equal(block.conv.weight, ref.weight) and torch.equal(block.conv.bias, ref.bias)
    assert torch.equal(block.bn.weight, torch.ones(4)) and torch.equal(
        block.bn.bias, torch.zeros(4))
    block.init_weights()  # mmcv's ConvModule would re-initialise (Kaiming, zero bias) here
    assert torch.equal(block.conv.weight, ref.weight) and torch.equal(block.conv.bias, ref.bias)
    x = torch.rand(2, 8, 7, 9)
    with torch.no_grad():
        block.eval()
        expect = nn.functional.leaky_relu(block.bn(ref(x)), 0.2)
        assert torch.equal(block(x), expect)
    assert isinstance(block, DefaultInitConvModule) and isinstance(block, ConvModule)


def test_init_weights_keeps_weights_and_applies_init_cfg():
    torch.manual_seed(0)
    vfn = VFN()
    before = {k: v.clone() for k, v in vfn.state_dict().items()}
    vfn.init_weights()
    assert all(torch.equal(v, before[k]) for k, v in vfn.state_dict().items())
    const = VFN(init_cfg=dict(type='Constant', layer='Conv2d', val=0.5, bias=0.25))
    const.init_weights()
    for name, m in const.named_modules():
        if isinstance(m, nn.Conv2d):
            assert torch.all(m.weight == 0.5) and torch.all(m.bias == 0.25), name
    # the zero convs of A2SI stay at zero whatever the init_cfg: a new block is the identity
    chain = RSCChain(init_cfg=dict(type='Constant', layer='Conv2d', val=0.5, bias=0.25))
    chain.init_weights()
    for block in chain.blocks:
        assert not block.zero_conv.weight.any() and not block.zero_conv.bias.any()
        assert torch.all(block.selector.img_code.conv.weight == 0.5)


def test_bn_folding_fast_path_runs_on_conv_modules():
    block = A2SIBlock(embed_dim=32).eval()
    for layers, n in ((block.selector.img_code, 1), (block.basis_filter.img_embed, 2)):
        stages = _folded_stages(layers)
        assert stages is not None and len(stages) == n
        assert all(slope == 0.2 for _, _, slope in stages)
    assert _folded_stages(block.train().selector.img_code) is None  # BN batch statistics
    reflect = nn.Sequential(conv_block(8, 8, padding_mode='reflect')).eval()
    assert _folded_stages(reflect) is None  # only zero padding is folded
    assert _folded_stages(nn.Conv2d(8, 8, 3, padding=1).eval()) is None  # not a ConvModule


def test_legacy_vfn_state_dict_loads_strictly_with_the_same_output():
    torch.manual_seed(0)
    src = randomised(VFN()).eval()
    old = legacy(src.state_dict())
    assert 'ir_encoder.stem.4.running_mean' in old and 'decoder.out.3.weight' in old
    assert 'ir_encoder.blocks.0.conv1.1.weight' in old and 'decoder.head.0.bias' in old
    dst = VFN().eval()
    dst.load_state_dict(old, strict=True)
    ir, y = torch.rand(2, 1, 19, 23), torch.rand(2, 1, 19, 23)
    with torch.no_grad():
        assert torch.equal(dst(ir, y), src(ir, y))
    # the version-1 metadata of a state dict saved by the old modules is honoured too
    meta_state = type(src.state_dict())(old)
    meta_state._metadata = {k: dict(v, version=1) for k, v in src.state_dict()._metadata.items()}
    VFN().load_state_dict(meta_state, strict=True)
    # and the current layout is left alone
    assert upgrade_legacy_keys(dst, src.state_dict()).keys() == src.state_dict().keys()


def test_legacy_checkpoint_files_load_through_every_loader(tmp_path):
    torch.manual_seed(0)
    src = randomised(CLDyNFuser()).eval()
    for block in src.rsc_ir.blocks:
        nn.init.normal_(block.zero_conv.weight, std=0.3)
    old = legacy(src.state_dict())
    assert 'rsc_vis.blocks.2.basis_filter.img_embed.3.weight' in old
    assert 'rsc_ir.blocks.0.selector.img_code.1.running_var' in old
    path = tmp_path / 'old_layout.pth'
    torch.save(dict(state_dict=old, meta=dict()), path)

    x, t = inputs()
    with torch.no_grad():
        want, want_plain = src.fuse_y(x, task_feat=t), src.fuse_y(x)
    model = CLDyNFuser()
    load_checkpoint(model, str(path), map_location='cpu', strict=True)  # MMEngine
    with torch.no_grad():
        assert torch.equal(model.eval().fuse_y(x, task_feat=t), want)
    # vfn_checkpoint (a VFN training checkpoint of the old layout)
    vfn_path = tmp_path / 'old_vfn.pth'
    torch.save(
        dict(state_dict={
            k: v
            for k, v in old.items() if k.startswith('fusion_net.')
        }), vfn_path)
    fuser = CLDyNFuser(vfn_checkpoint=str(vfn_path))
    with torch.no_grad():
        assert torch.equal(fuser.fuse_y(x), want_plain)
    # an init never replaces the VFN of vfn_checkpoint
    fuser.init_weights()
    with torch.no_grad():
        assert torch.equal(fuser.fuse_y(x), want_plain)
    vfn_fuser = VFNFuser()
    vfn_fuser.load_state_dict({k: v for k, v in old.items() if k.startswith('fusion_net.')})
    with torch.no_grad():
        assert torch.equal(vfn_fuser.eval().fuse_y(x), want_plain)


def test_upgrade_legacy_keys_and_the_compatibility_hook():
    model = CLDyNFuser()
    new = model.state_dict()
    old = legacy(new)
    up = upgrade_legacy_keys(model, old)
    assert list(up) == list(new)
    assert all(up[k] is old[legacy({k: 0}).popitem()[0]] for k in new)
    prefixed = upgrade_legacy_keys(model, {'module.' + k: v for k, v in old.items()}, 'module.')
    assert set(prefixed) == {'module.' + k for k in new}
    with pytest.raises(KeyError, match='two layouts'):
        upgrade_legacy_keys(model, dict(old, **{'fusion_net.decoder.head.conv.weight': 0}))
    # a version-1 checkpoint passes the hook's key comparison (load_from / resume)
    runner = SimpleNamespace(model=model, _resume=False, _load_from='old.pth')
    CheckpointCompatibilityHook().after_load_checkpoint(runner, dict(state_dict=old, meta={}))
    with pytest.raises(ValueError, match='missing'):
        damaged = dict(old)
        damaged.pop('fusion_net.decoder.out.3.weight')
        CheckpointCompatibilityHook().after_load_checkpoint(runner, dict(state_dict=damaged))
