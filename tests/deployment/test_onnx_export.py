"""ONNX export (cldyn_mm/deployment, tools/deployment/pytorch2onnx.py): the exported VFN and
CLDyN fusers run on onnxruntime on real pairs at sizes other than the export size and match
PyTorch within 1e-4; the export formulation matches the fusers in PyTorch; mistakes on the
command line end with one line and a non-zero exit code."""
import importlib.util
import os.path as osp
import subprocess
import sys

import cv2
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from cldyn_mm.registry import MODELS
from cldyn_mm.utils.colour import rgb_to_ycbcr

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'deployment', 'pytorch2onnx.py')
VFN_CONFIG = osp.join(REPO, 'configs', 'vfn', 'vfn_1xb8-200_demo.py')
CLDYN_CONFIG = osp.join(REPO, 'configs', 'cldyn', 'cldyn_vfn-rsc_pairs.py')
EXPORT_SHAPE = (48, 64)  # the tracing size; every comparison runs at other sizes
TASK_SHAPE = (16, 5, 7)
ATOL = 1e-4

HAVE_ORT = all(importlib.util.find_spec(m) is not None for m in ('onnx', 'onnxruntime'))
needs_ort = pytest.mark.skipif(not HAVE_ORT, reason='onnx / onnxruntime not installed')
pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    monkeypatch.syspath_prepend(REPO)


def randomize(model: nn.Module, seed: int = 0, zero_conv: float = 0.3) -> nn.Module:
    """Random BN statistics and, for CLDyN, non-zero zero convs (so RSC is not the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
        for chain in (getattr(model, 'rsc_ir', None), getattr(model, 'rsc_vis', None)):
            for block in (chain.blocks if chain is not None else ()):
                block.zero_conv.weight.copy_(zero_conv *
                                             torch.randn(block.zero_conv.weight.shape, generator=g))
    return model.eval()


def build(config: str, seed: int = 0, **overrides) -> nn.Module:
    torch.manual_seed(seed)
    cfg = Config.fromfile(config)
    cfg.model.update(overrides)
    return randomize(MODELS.build(cfg.model), seed)


def read_pair(root, dataset: str, index: int, size=None):
    """A real pair as ``(ir (1, 1, h, w), vis (1, 3, h, w) RGB)`` in [0, 1], cropped to the
    top-left ``size`` (h, w) when given."""
    names = sorted((root / 'ivif_pairs' / dataset / 'ir').iterdir())
    name = names[index].name
    ir = cv2.imread(str(root / 'ivif_pairs' / dataset / 'ir' / name), cv2.IMREAD_GRAYSCALE)
    vi = cv2.imread(str(root / 'ivif_pairs' / dataset / 'vi' / name), cv2.IMREAD_COLOR)
    if ir is None or vi is None:
        pytest.skip(f'cannot read the {dataset} pair {name}')
    if size is not None:
        ir, vi = ir[:size[0], :size[1]], vi[:size[0], :size[1]]
    ir_t = torch.from_numpy(ir).float().div(255)[None, None]
    vi_t = torch.from_numpy(vi[:, :, ::-1].copy()).float().div(255).permute(2, 0, 1)[None]
    return ir_t, vi_t


def onnx_dims(path: str):
    """``{name: [dim_param or dim_value, ...]}`` of the graph's inputs and outputs, opset."""
    import onnx
    model = onnx.load(path)
    dims = {}
    for v in list(model.graph.input) + list(model.graph.output):
        dims[v.name] = [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
    return dims, model.opset_import[0].version


# ---------------------------------------------------------------- export formulation (PyTorch)


@pytest.mark.parametrize(
    'overrides', [
        {},
        dict(
            rsc=dict(
                type='RSCChain',
                num_blocks=3,
                embed_dim=64,
                in_channels=8,
                filter_num=5,
                set_num=7,
                vector_num=8,
                selection='soft'),
            bank=dict(type='BasisVectorBank', set_num=7, vector_num=8, embed_dim=64)),
        dict(
            rsc=dict(
                type='RSCChain',
                num_blocks=3,
                embed_dim=64,
                in_channels=8,
                filter_num=2,
                set_num=1,
                vector_num=4),
            bank=dict(type='BasisVectorBank', set_num=1, vector_num=4, embed_dim=64)),
    ],
    ids=['default', 'seven-sets-soft', 'one-set'])
def test_export_formulation_equals_the_fuser(overrides):
    """ExportFuser = fuser.fuse in eval mode: repeated dilations (7 sets), 1x1 only, 'soft'."""
    from cldyn_mm.deployment.onnx_export import ExportFuser, dummy_inputs, torch_reference
    fuser = build(CLDYN_CONFIG, **overrides)
    wrapper = ExportFuser(fuser).eval()
    x = dummy_inputs('cldyn', (21, 34), (3, 4, 5), batch=2, seed=3)
    with torch.no_grad():
        out = wrapper(*x)
        plain = fuser.fuse_y(dict(ir=x[0], vis=x[1], vis_ycbcr=rgb_to_ycbcr(x[1])))
    ref = torch_reference(fuser, x)
    for a, b in zip(out, ref):
        assert a.shape == b.shape
        assert (a - b).abs().max() <= 1e-5
    assert (ref[0] - plain).abs().max() > 1e-3  # the compensation is not the identity


def test_export_fuser_refuses_other_models():
    from cldyn_mm.deployment import ExportError
    from cldyn_mm.deployment.onnx_export import ExportFuser
    with pytest.raises(ExportError, match='VFNFuser and CLDyNFuser'):
        ExportFuser(nn.Conv2d(1, 1, 1))


# ---------------------------------------------------------------- onnxruntime on real pairs


@needs_ort
def test_vfn_cli_export_runs_on_real_pairs_with_dynamic_size(tmp_path, shared_data, capsys):
    """tools/deployment/pytorch2onnx.py on a VFN config and checkpoint (in process, with
    --verify on a real pair), then onnxruntime on two real pairs of another size (batch 2)."""
    from cldyn_mm.deployment.onnx_export import onnx_session, run_onnx, torch_reference
    from tools.deployment.pytorch2onnx import main
    fuser = build(VFN_CONFIG)
    ckpt, out = tmp_path / 'vfn.pth', tmp_path / 'vfn.onnx'
    torch.save({'state_dict': fuser.state_dict(), 'meta': {}}, ckpt)
    pair_dir = shared_data / 'ivif_pairs' / 'RoadScene'
    name = sorted((pair_dir / 'ir').iterdir())[0].name
    res = main([
        VFN_CONFIG,
        str(ckpt), '--out',
        str(out), '--shape', *map(str, EXPORT_SHAPE), '--verify', '--ir',
        str(pair_dir / 'ir' / name), '--vi',
        str(pair_dir / 'vi' / name)
    ])
    assert res['kind'] == 'vfn' and res['max_abs_diff'] <= ATOL
    printed = capsys.readouterr().out
    assert 'verified: onnxruntime matches PyTorch' in printed and f'pair {name}' in printed

    dims, opset = onnx_dims(str(out))
    assert opset == 17
    assert dims == {
        'ir': ['batch', 1, 'height', 'width'],
        'vis': ['batch', 3, 'height', 'width'],
        'fused_y': ['batch', 1, 'height', 'width'],
        'fused': ['batch', 3, 'height', 'width']
    }
    size = (93, 141)  # odd, and not the export size
    pairs = [read_pair(shared_data, 'MSRS', i, size) for i in (0, 1)]
    x = (torch.cat([p[0] for p in pairs]), torch.cat([p[1] for p in pairs]))
    got = run_onnx(onnx_session(str(out), 1), x)
    ref = torch_reference(fuser, x)
    assert got[0].shape == (2, 1, *size) and got[1].shape == (2, 3, *size)
    assert max((a - b).abs().max().item() for a, b in zip(got, ref)) <= ATOL
    assert 0 <= got[1].min() and got[1].max() <= 1


@needs_ort
def test_cldyn_export_runs_on_real_pairs_with_dynamic_size(tmp_path, shared_data):
    """The CLDyN fuser with the task feature as an input: a real TNO pair at another size,
    a task feature of another shape than at export, one for every image of a batch of 2."""
    from cldyn_mm.deployment.onnx_export import export_onnx, onnx_session, run_onnx, torch_reference
    fuser = build(CLDYN_CONFIG)
    out = str(tmp_path / 'cldyn.onnx')
    export_onnx(fuser, out, EXPORT_SHAPE, 17, TASK_SHAPE)
    dims, opset = onnx_dims(out)
    assert opset == 17
    assert dims['task_feat'] == ['task_batch', 'task_channels', 'task_height', 'task_width']
    assert dims['fused'] == ['batch', 3, 'height', 'width']
    session = onnx_session(out, 1)

    ir, vis = read_pair(shared_data, 'TNO', 0, (71, 97))
    task = torch.randn(1, 8, 6, 9, generator=torch.Generator().manual_seed(5))
    got = run_onnx(session, (ir, vis, task))
    ref = torch_reference(fuser, (ir, vis, task))
    assert got[0].shape == (1, 1, 71, 97)
    assert max((a - b).abs().max().item() for a, b in zip(got, ref)) <= ATOL
    plain = fuser.fuse_y(dict(ir=ir, vis=vis, vis_ycbcr=rgb_to_ycbcr(vis)))
    assert (got[0] - plain).abs().max() > 1e-2  # RSC is in the graph

    # a batch of two pairs with one task feature each (N_t = N)
    ir2, vis2 = read_pair(shared_data, 'TNO', 1, (71, 97))
    x = (torch.cat((ir, ir2)), torch.cat((vis, vis2)), torch.cat((task, -task)))
    got = run_onnx(session, x)
    ref = torch_reference(fuser, x)
    assert max((a - b).abs().max().item() for a, b in zip(got, ref)) <= ATOL


# ---------------------------------------------------------------- command-line mistakes


def run_tool(*args):
    return subprocess.run([sys.executable, TOOL, *args],
                          capture_output=True,
                          text=True,
                          cwd=REPO,
                          timeout=120)


@pytest.mark.parametrize('case', [
    'missing-config', 'missing-checkpoint', 'shape-zero', 'shape-text', 'shape-one-value',
    'low-opset', 'out-folder-missing'
])
def test_cli_mistakes_are_one_line_with_nonzero_exit(tmp_path, case):
    ckpt = tmp_path / 'some.pth'
    ckpt.write_bytes(b'x')
    out = str(tmp_path / 'f.onnx')
    args, code, text = {
        'missing-config': (['nope.py', str(ckpt), '--out', out], 1, 'config not found'),
        'missing-checkpoint': ([VFN_CONFIG, 'nope.pth', '--out', out], 1, 'checkpoint not found'),
        'shape-zero': ([VFN_CONFIG, str(ckpt), '--out', out, '--shape', '0',
                        '10'], 1, '--shape values must be >= 8'),
        'shape-text': ([VFN_CONFIG, str(ckpt), '--out', out, '--shape', 'a',
                        'b'], 1, '--shape must be 2 integers'),
        'shape-one-value': ([VFN_CONFIG, str(ckpt), '--out', out, '--shape',
                             '64'], 2, 'expected 2 arguments'),
        'low-opset': ([VFN_CONFIG, str(ckpt), '--out', out, '--opset',
                       '11'], 1, '--opset must be an integer >= 13'),
        'out-folder-missing':
        ([VFN_CONFIG, str(ckpt), '--out',
          str(tmp_path / 'no' / 'f.onnx')], 1, 'output folder of --out does not exist'),
    }[case]
    proc = run_tool(*args)
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('pytorch2onnx.py: error: '), proc.stderr
    assert text in lines[0]
    assert not osp.exists(out)


def test_cli_debug_shows_the_traceback(tmp_path):
    proc = run_tool('nope.py', 'nope.pth', '--out', str(tmp_path / 'f.onnx'), '--debug')
    assert proc.returncode != 0
    assert 'Traceback' in proc.stderr and 'FileNotFoundError: config not found' in proc.stderr


def test_cli_checkpoint_that_does_not_fit_and_other_models(tmp_path, capsys):
    """In process (building the model in a fresh interpreter takes ~10 s here): a VFN
    checkpoint for the CLDyN config, a fused task model's config."""
    from tools.deployment.pytorch2onnx import cli
    fuser = build(VFN_CONFIG)
    ckpt = tmp_path / 'vfn.pth'
    torch.save({'state_dict': fuser.state_dict(), 'meta': {}}, ckpt)
    out = str(tmp_path / 'f.onnx')
    assert cli([CLDYN_CONFIG, str(ckpt), '--out', out]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'does not fit the model of the config (CLDyNFuser)' in err[0]
    assert cli([
        osp.join(REPO, 'configs', 'cldyn', 'cldyn_rtmdet-tiny_1xb4-200_demo.py'),
        str(ckpt), '--out', out
    ]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model type 'ClosedLoopCLDyN' cannot be exported" in err[0]
    assert not osp.exists(out)
