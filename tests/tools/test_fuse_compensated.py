"""tools/fuse.py with configs/cldyn/cldyn_vfn-rsc_pairs.py and --task-feat: compensated fusions."""
import os
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from cldyn_mm.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'cldyn', 'cldyn_vfn-rsc_pairs.py')

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    monkeypatch.syspath_prepend(REPO)


def _fuse(*args):
    from tools.fuse import main  # noqa: E402 - imported here so sys.path holds the repo
    return main([str(a) for a in args])


def _checkpoint(path, active: bool):
    """A CLDyN checkpoint in this project's format; ``active``: non-zero zero convs."""
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    if active:
        g = torch.Generator().manual_seed(1)
        with torch.no_grad():
            for chain in (model.rsc_ir, model.rsc_vis):
                for block in chain.blocks:
                    block.zero_conv.weight.copy_(
                        0.5 * torch.randn(block.zero_conv.weight.shape, generator=g))
                    block.zero_conv.bias.copy_(0.1 * torch.randn(8, generator=g))
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


@pytest.fixture
def pairs(tmp_path):
    """3 small pairs (two of one size, one of another): MSRS images resized when the shared
    sample data is present, synthetic ones otherwise."""
    root = os.environ.get('CLDYN_SHARED_DATA') or osp.join(osp.dirname(REPO), 'shared', 'data')
    src = Path(root) / 'ivif_pairs' / 'MSRS'
    ir_dir, vi_dir = tmp_path / 'ir', tmp_path / 'vi'
    ir_dir.mkdir()
    vi_dir.mkdir()
    sizes = [(40, 31), (40, 31), (33, 27)]  # (w, h), odd on purpose
    stems = sorted(osp.splitext(f)[0] for f in os.listdir(src / 'ir'))[:3] \
        if (src / 'ir').is_dir() else []
    rng = np.random.default_rng(0)
    for i, size in enumerate(sizes):
        if len(stems) == 3:
            ir = cv2.imread(str(next((src / 'ir').glob(stems[i] + '.*'))), cv2.IMREAD_GRAYSCALE)
            vi = cv2.imread(str(next((src / 'vi').glob(stems[i] + '.*'))), cv2.IMREAD_COLOR)
            ir = cv2.resize(ir, size, interpolation=cv2.INTER_AREA)
            vi = cv2.resize(vi, size, interpolation=cv2.INTER_AREA)
        else:
            ir = rng.integers(0, 256, size[::-1], dtype=np.uint8)
            vi = rng.integers(0, 256, size[::-1] + (3, ), dtype=np.uint8)
        cv2.imwrite(str(ir_dir / f'p{i}.png'), ir)
        cv2.imwrite(str(vi_dir / f'p{i}.png'), vi)
    return ir_dir, vi_dir, sizes


def _read(folder):
    return {
        f: cv2.imread(str(folder / f), cv2.IMREAD_UNCHANGED)
        for f in sorted(os.listdir(folder))
    }


def test_fuse_tool_writes_compensated_fusions(tmp_path, pairs):
    ir_dir, vi_dir, sizes = pairs
    ckpt = _checkpoint(tmp_path / 'cldyn.pth', active=True)
    feat = tmp_path / 'T.pt'  # (C, H, W)
    torch.save(torch.randn(5, 4, 6, generator=torch.Generator().manual_seed(2)), feat)
    common = ['--ir', ir_dir, '--vi', vi_dir, '--batch-size', 2, '--no-progress']

    comp = _fuse(CONFIG, ckpt, *common, '--out', tmp_path / 'comp', '--task-feat', feat)
    plain = _fuse(CONFIG, ckpt, *common, '--out', tmp_path / 'plain')
    assert comp['written'] == plain['written'] == 3
    a, b = _read(tmp_path / 'comp'), _read(tmp_path / 'plain')
    assert list(a) == ['p0.png', 'p1.png', 'p2.png']
    for (name, x), size in zip(a.items(), sizes):
        assert x.shape == (size[1], size[0], 3), name
    diffs = [np.abs(a[k].astype(int) - b[k].astype(int)).max() for k in a]
    assert min(diffs) > 0, diffs  # every pair is compensated


def test_new_checkpoint_compensates_to_the_plain_fusion(tmp_path, pairs):
    """Zero convs at zero (a model right after initialisation): with and without the task
    feature the files are identical."""
    ir_dir, vi_dir, _ = pairs
    ckpt = _checkpoint(tmp_path / 'new.pth', active=False)
    feat = tmp_path / 'T.pt'  # (1, C, H, W)
    torch.save(torch.randn(1, 4, 5, 5), feat)
    common = ['--ir', ir_dir, '--vi', vi_dir, '--no-progress']
    _fuse(CONFIG, ckpt, *common, '--out', tmp_path / 'comp', '--task-feat', feat)
    _fuse(CONFIG, ckpt, *common, '--out', tmp_path / 'plain')
    a, b = _read(tmp_path / 'comp'), _read(tmp_path / 'plain')
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def test_bad_task_feature_is_refused(tmp_path, pairs):
    ir_dir, vi_dir, _ = pairs
    ckpt = _checkpoint(tmp_path / 'new.pth', active=False)
    feat = tmp_path / 'T.pt'
    torch.save(torch.randn(2, 3, 4, 4), feat)
    with pytest.raises(ValueError, match=r'\(C, H, W\) or \(1, C, H, W\)'):
        _fuse(CONFIG, ckpt, '--ir', ir_dir, '--vi', vi_dir, '--out', tmp_path / 'o', '--task-feat',
              feat, '--no-progress')
