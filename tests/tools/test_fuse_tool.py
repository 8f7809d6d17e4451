"""tools/fuse.py fuses folders of pairs at their original sizes and resumes half-done runs."""
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/vfn/vfn_1xb8-200_demo.py')
DATASETS = ('TNO', 'RoadScene', 'MSRS', 'LLVIP', 'M3FD')


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A checkpoint of a (randomly initialised) VFN fuser in this project's format."""
    from cldyn_mm.models import VFNFuser
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('ckpt') / 'vfn.pth'
    torch.save({'state_dict': VFNFuser().state_dict(), 'meta': {}}, path)
    return str(path)


def _fuse(*args):
    from tools.fuse import main  # noqa: E402 - imported here so sys.path holds the repo
    return main([CONFIG, *args])


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    monkeypatch.syspath_prepend(REPO)


def _subset(src, dst, max_pairs):
    """Links to ``max_pairs`` pairs of ``src``, one of each image size first, then the next
    stems. Nothing is copied."""
    stems = sorted(osp.splitext(f)[0] for f in os.listdir(src / 'vi'))
    files = {m: {osp.splitext(f)[0]: f for f in os.listdir(src / m)} for m in ('ir', 'vi')}
    by_size = {}
    for stem in stems:
        h, w = cv2.imread(str(src / 'vi' / files['vi'][stem]), cv2.IMREAD_UNCHANGED).shape[:2]
        by_size.setdefault((h, w), stem)
    chosen = list(dict.fromkeys(list(by_size.values()) + stems))[:max_pairs]
    for m in ('ir', 'vi'):
        (dst / m).mkdir(parents=True)
        for stem in chosen:
            os.symlink(src / m / files[m][stem], dst / m / files[m][stem])
    return dst


def _check_fuses_at_original_size(src, checkpoint, out):
    result = _fuse(checkpoint, '--ir', str(src / 'ir'), '--vi', str(src / 'vi'), '--out', str(out),
                   '--batch-size', '4', '--no-progress')
    stems = sorted(osp.splitext(f)[0] for f in os.listdir(src / 'vi'))
    assert result['written'] == len(stems) > 0
    assert sorted(osp.splitext(f)[0] for f in os.listdir(out)) == stems
    for f in os.listdir(src / 'vi'):
        stem = osp.splitext(f)[0]
        vis = cv2.imread(str(src / 'vi' / f))
        fused = cv2.imread(str(out / f'{stem}.png'), cv2.IMREAD_UNCHANGED)
        assert fused.shape == vis.shape[:2] + (3, ), stem


# pairs per dataset in the default run: all 8 TNO sizes, 6 odd RoadScene sizes, the rest
# have one size each; `-m e2e` fuses every pair
SUBSET = dict(TNO=8, RoadScene=6, MSRS=3, LLVIP=2, M3FD=2)


@pytest.mark.parametrize('name', DATASETS)
def test_fuses_real_pairs_at_original_size(shared_data, checkpoint, tmp_path, name):
    src = _subset(shared_data / 'ivif_pairs' / name, tmp_path / 'src', SUBSET[name])
    _check_fuses_at_original_size(src, checkpoint, tmp_path / 'fused')


@pytest.mark.e2e
@pytest.mark.parametrize('name', DATASETS)
def test_fuses_every_real_pair(shared_data, checkpoint, tmp_path, name):
    _check_fuses_at_original_size(shared_data / 'ivif_pairs' / name, checkpoint, tmp_path / 'fused')


def test_resume_skips_finished_files_and_batching_is_exact(shared_data, checkpoint, tmp_path):
    # RoadScene: every pair has its own size
    src = _subset(shared_data / 'ivif_pairs' / 'RoadScene', tmp_path / 'rs', max_pairs=5)
    args = ['--ir', str(src / 'ir'), '--vi', str(src / 'vi'), '--no-progress']
    one = _fuse(checkpoint, *args, '--out', str(tmp_path / 'b1'), '--batch-size', '1')
    assert one['written'] == one['total']
    again = _fuse(checkpoint, *args, '--out', str(tmp_path / 'b1'))
    assert again == dict(written=0, skipped=one['total'], total=one['total'])
    victim = sorted(os.listdir(tmp_path / 'b1'))[3]
    os.remove(tmp_path / 'b1' / victim)
    resumed = _fuse(checkpoint, *args, '--out', str(tmp_path / 'b1'))
    assert resumed['written'] == 1 and osp.isfile(tmp_path / 'b1' / victim)

    # MSRS: equal sizes, batched for real (two batches of 3)
    src = _subset(shared_data / 'ivif_pairs' / 'MSRS', tmp_path / 'msrs', max_pairs=6)
    args = ['--ir', str(src / 'ir'), '--vi', str(src / 'vi'), '--no-progress']
    _fuse(checkpoint, *args, '--out', str(tmp_path / 'm1'), '--batch-size', '1')
    _fuse(checkpoint, *args, '--out', str(tmp_path / 'm8'), '--batch-size', '3')
    for f in os.listdir(tmp_path / 'm1'):
        a = cv2.imread(str(tmp_path / 'm1' / f)).astype(int)
        b = cv2.imread(str(tmp_path / 'm8' / f)).astype(int)
        assert np.abs(a - b).max() <= 1, f


def test_errors_name_the_problem(tmp_path, checkpoint):
    (tmp_path / 'ir').mkdir()
    (tmp_path / 'vi').mkdir()
    cv2.imwrite(str(tmp_path / 'ir' / 'a.png'), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(tmp_path / 'vi' / 'a.png'), np.zeros((8, 9, 3), np.uint8))
    args = [
        '--ir',
        str(tmp_path / 'ir'), '--vi',
        str(tmp_path / 'vi'), '--out',
        str(tmp_path / 'out'), '--no-progress'
    ]
    with pytest.raises(ValueError, match='differ in size'):
        _fuse(checkpoint, *args)
    cv2.imwrite(str(tmp_path / 'ir' / 'b.png'), np.zeros((8, 8), np.uint8))
    with pytest.raises(ValueError, match='no partner'):
        _fuse(checkpoint, *args)
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        _fuse(str(tmp_path / 'missing.pth'), *args)
    with pytest.raises(ValueError, match='does not use a task feature'):
        feat = tmp_path / 't.pt'
        torch.save(torch.zeros(4, 2, 2), feat)
        os.remove(tmp_path / 'ir' / 'b.png')
        cv2.imwrite(str(tmp_path / 'vi' / 'a.png'), np.zeros((8, 8, 3), np.uint8))
        _fuse(checkpoint, *args, '--task-feat', str(feat))


def test_command_line_prints_timing(shared_data, checkpoint, tmp_path):
    src = shared_data / 'ivif_pairs' / 'M3FD'
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools/fuse.py'), CONFIG, checkpoint, '--ir',
        str(src / 'ir'), '--vi',
        str(src / 'vi'), '--out',
        str(tmp_path / 'o'), '--no-progress'
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert 'fused 2 pair(s)' in proc.stdout
