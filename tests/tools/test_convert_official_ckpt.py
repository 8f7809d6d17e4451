"""tools/model_converters/convert_official_ckpt.py on fake research checkpoints made from our own
modules.

The research names are produced here by an independent inverse renaming (string rules, not the
converter's tables), in bfloat16 as the research code saved them. Converting them back must
reproduce the model exactly; damaged files must be refused with the offending names.
"""
import argparse
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import load_checkpoint

from cldyn_mm.registry import MODELS
from cldyn_mm.utils.colour import rgb_to_ycbcr

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / 'tools' / 'model_converters' / 'convert_official_ckpt.py'
CONFIG = ROOT / 'configs' / 'cldyn' / 'cldyn_vfn-rsc_pairs.py'

_spec = importlib.util.spec_from_file_location('convert_official_ckpt', TOOL)
convert_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(convert_tool)

pytestmark = pytest.mark.usefixtures('one_torch_thread')

# ours -> research: ConvModule stages back to the research nn.Sequential indices ([Conv2d,
# BatchNorm2d, LeakyReLU] * n, a last Conv2d of the decoder's res at index 3)
CONV_MODULE_RULES = [
    (r'(stem|img_embed|out)\.0\.conv\.', r'\1.0.'),
    (r'(stem|img_embed|out)\.0\.bn\.', r'\1.1.'),
    (r'(stem|img_embed|out)\.1\.conv\.', r'\1.3.'),
    (r'(stem|img_embed)\.1\.bn\.', r'\1.4.'),
    (r'(conv1|conv2|head|img_code)\.conv\.', r'\1.0.'),
    (r'(conv1|conv2|head|img_code)\.bn\.', r'\1.1.'),
]
VFN_RULES = [  # ours -> research, applied in order; {ir}/{vi}/{dec} are the spellings
    *CONV_MODULE_RULES,
    (r'^ir_encoder\.stem\.', '{ir}.bfe.'),
    (r'^vis_encoder\.stem\.', '{vi}.bfe.'),
    (r'^ir_encoder\.blocks\.(\d+)\.', r'{ir}.e\1.'),
    (r'^vis_encoder\.blocks\.(\d+)\.', r'{vi}.e\1.'),
    (r'^decoder\.head\.', '{dec}.f_conv.'),
    (r'^decoder\.blocks\.(\d+)\.', r'{dec}.d\1.'),
    (r'^decoder\.out\.', '{dec}.res.'),
    (r'\.conv1\.', '.Dcov1.'),
    (r'\.conv2\.', '.Dcov2.'),
    (r'\.fuse\.', '.conv.'),
    (r'^fusion\.channel_mlp_avg', 'frb1.mlp_aa'),
    (r'^fusion\.channel_mlp_max', 'frb1.mlp_ma'),
    (r'^fusion\.spatial_conv_avg', 'frb1.conv_mean_a'),
    (r'^fusion\.spatial_conv_max', 'frb1.conv_max_a'),
]
RSC_RULES = [
    *CONV_MODULE_RULES,
    (r'^blocks\.(\d+)\.', r'a2si\1.'),
    (r'selector\.prototypes$', 'orthogonal_convolutional_prototypes'),
    (r'selector\.task_code\.conv1', 'p_task_f.0'),
    (r'selector\.task_code\.conv2', 'p_task_f.2'),
    (r'selector\.img_code\.', 'p_img_f.'),
    (r'selector\.joint\.', 'a_task_img.'),
    (r'basis_filter\.task_embed\.conv1', 'bv_f.p_task_f.0'),
    (r'basis_filter\.task_embed\.conv2', 'bv_f.p_task_f.2'),
    (r'basis_filter\.img_embed\.', 'bv_f.p_img_f.'),
    (r'basis_filter\.query\.', 'bv_f.mlp.'),
    (r'kernel_1x1\.', 'mlp_1x1.'),
    (r'kernel_3x3\.', 'mlp_3x3.'),
    (r'out_norm\.', 'B_LR.0.'),
    (r'zero_conv\.', 'zc.'),
]
SPELLINGS = {
    'feb': dict(ir='ir_feb', vi='vi_feb', dec='frb2'),
    'e': dict(ir='ir_e', vi='vi_e', dec='fb')
}


def rename(name, rules, **slots):
    for pattern, repl in rules:
        name = re.sub(pattern, repl.format(**slots) if slots else repl, name)
    return name


def bf16(t):
    return t.to(torch.bfloat16) if t.is_floating_point() else t.clone()


def build_model():
    return MODELS.build(Config.fromfile(str(CONFIG)).model)


def make_source_model(seed=0):
    """A model with every weight and BN statistic random and representable in bf16."""
    torch.manual_seed(seed)
    model = build_model()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                if name.endswith('running_var'):
                    t.copy_(0.5 + torch.rand(t.shape, generator=g))
                elif 'prototypes' not in name and not name.startswith('bank'):
                    t.add_(0.05 * torch.randn(t.shape, generator=g))
                t.copy_(t.to(torch.bfloat16).float())
            else:
                t.fill_(123)
    return model.eval()


def research_files(model, folder: Path, spelling='feb', bank_3d=False):
    sd = model.state_dict()
    slots = SPELLINGS[spelling]
    net = {
        rename(k[len('fusion_net.'):], VFN_RULES, **slots): bf16(v)
        for k, v in sd.items() if k.startswith('fusion_net.')
    }
    vfn = dict(net=net, optimizer=dict(state={}, param_groups=[]), epoch=99)

    def chain(prefix):
        return {
            rename(k[len(prefix):], RSC_RULES): bf16(v)
            for k, v in sd.items() if k.startswith(prefix)
        }

    bank = bf16(sd['bank.weight'])
    rsc = dict(
        rsc_ir=chain('rsc_ir.'),
        rsc_vi=chain('rsc_vis.'),
        bvb=bank.view(4, 32, 256) if bank_3d else bank,
        rsc_optimizer=dict(
            state={0: dict(step=torch.tensor(3.))},
            param_groups=[dict(lr=0.01, betas=(0.9, 0.999), params=[0])]))
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(vfn, folder / 'vfn.pth')
    torch.save(rsc, folder / 'rsc.pth')
    return folder / 'vfn.pth', folder / 'rsc.pth', vfn, rsc


def sample_inputs():
    g = torch.Generator().manual_seed(3)
    vis = torch.rand(2, 3, 9, 11, generator=g)
    return (dict(ir=torch.rand(2, 1, 9, 11, generator=g), vis=vis,
                 vis_ycbcr=rgb_to_ycbcr(vis)), torch.randn(1, 6, 2, 3, generator=g))


@pytest.fixture(scope='module')
def source():
    return make_source_model()


def convert(*args):
    return convert_tool.main([str(a) for a in args])


@pytest.mark.parametrize('spelling,bank_3d', [('feb', False), ('e', True)])
def test_round_trip_reproduces_the_model(source, tmp_path, spelling, bank_3d):
    vfn, rsc, raw_vfn, raw_rsc = research_files(source, tmp_path, spelling, bank_3d)
    assert 'ir_feb.e0.Dcov1.0.weight' in raw_vfn['net'] or 'ir_e.e0.Dcov1.0.weight' in \
        raw_vfn['net']
    assert raw_rsc['rsc_ir']['a2si2.bv_f.p_img_f.4.running_var'].dtype == torch.bfloat16
    out = tmp_path / 'cldyn.pth'
    assert convert('--vfn', vfn, '--rsc', rsc, '--out', out) == 0
    ckpt = torch.load(out, weights_only=True)
    assert ckpt['meta']['converted_from']['rsc'].endswith('rsc.pth')
    assert all(v.dtype in (torch.float32, torch.int64) for v in ckpt['state_dict'].values())

    model = build_model()
    load_checkpoint(model, str(out), map_location='cpu', strict=True)
    model.eval()
    loaded = model.state_dict()
    for k, v in source.state_dict().items():
        assert torch.equal(loaded[k], v), k
    x, t = sample_inputs()
    with torch.no_grad():
        assert torch.equal(model.fuse_y(x, task_feat=t), source.fuse_y(x, task_feat=t))


def test_vfn_only_output_is_a_vfn_checkpoint(source, tmp_path):
    vfn, _, _, _ = research_files(source, tmp_path)
    out = tmp_path / 'vfn_only.pth'
    assert convert('--vfn', vfn, '--out', out) == 0
    keys = torch.load(out, weights_only=True)['state_dict'].keys()
    assert keys and all(k.startswith('fusion_net.') for k in keys)
    cfg = Config.fromfile(str(CONFIG))
    cfg.model.vfn_checkpoint = str(out)
    model = MODELS.build(cfg.model)
    loaded = model.fusion_net.state_dict()
    for k, v in source.fusion_net.state_dict().items():
        assert torch.equal(loaded[k], v), k


def _damage(tmp_path, source, what):
    vfn, rsc, raw_vfn, raw_rsc = research_files(source, tmp_path)
    if what == 'extra':
        raw_vfn['net']['frb1.mlp_xx.0.weight'] = torch.zeros(2)
        torch.save(raw_vfn, vfn)
        return vfn, rsc, 'frb1.mlp_xx.0.weight'
    if what == 'missing':
        del raw_rsc['rsc_vi']['a2si1.zc.bias']
        torch.save(raw_rsc, rsc)
        return vfn, rsc, 'rsc_vis.blocks.1.zero_conv.bias'
    if what == 'shape':
        raw_rsc['rsc_ir']['a2si0.mlp_3x3.3.weight'] = torch.zeros(64, 64, dtype=torch.bfloat16)
        torch.save(raw_rsc, rsc)
        return vfn, rsc, r'a2si0.mlp_3x3.3.weight.*\(64, 64\).*\(576, 64\)'
    if what == 'bank':
        raw_rsc['bvb'] = torch.zeros(64, 256, dtype=torch.bfloat16)
        torch.save(raw_rsc, rsc)
        return vfn, rsc, r'bank.weight.*\(64, 256\)'
    if what == 'two_spellings':
        raw_vfn['net']['ir_e.bfe.0.weight'] = raw_vfn['net']['ir_feb.bfe.0.weight']
        torch.save(raw_vfn, vfn)
        return vfn, rsc, 'duplicate.*ir_e.bfe.0.weight'
    raise ValueError(what)


@pytest.mark.parametrize('what', ['extra', 'missing', 'shape', 'bank', 'two_spellings'])
def test_damaged_files_are_refused_and_nothing_is_written(source, tmp_path, capsys, what):
    vfn, rsc, message = _damage(tmp_path, source, what)
    out = tmp_path / 'out.pth'
    assert convert('--vfn', vfn, '--rsc', rsc, '--out', out) == 1
    err = capsys.readouterr().err
    assert re.search(message, err), err
    assert 'nothing was written' in err
    assert not out.exists() and not Path(str(out) + '.partial').exists()


def test_unsafe_file_needs_trust_flag(source, tmp_path, capsys):
    vfn, rsc, raw_vfn, _ = research_files(source, tmp_path)
    raw_vfn.pop('optimizer')
    raw_vfn['epoch'] = argparse.Namespace(epoch=3)  # not loadable with weights_only=True
    torch.save(raw_vfn, vfn)
    out = tmp_path / 'out.pth'
    assert convert('--vfn', vfn, '--rsc', rsc, '--out', out) == 1
    err = capsys.readouterr().err
    assert 'weights_only=True' in err and '--trust-checkpoint' in err and 'vfn.pth' in err
    assert not out.exists()
    with pytest.warns(UserWarning, match='trusted'):
        assert convert('--vfn', vfn, '--rsc', rsc, '--out', out, '--trust-checkpoint') == 0
    assert out.exists()


def test_command_line_exit_code(tmp_path):
    missing = tmp_path / 'nope.pth'
    proc = subprocess.run(
        [sys.executable,
         str(TOOL), '--vfn',
         str(missing), '--out',
         str(tmp_path / 'o.pth')],
        capture_output=True,
        text=True,
        cwd=ROOT)
    assert proc.returncode == 1
    assert 'nope.pth' in proc.stderr and not (tmp_path / 'o.pth').exists()
