"""The msrs_det experiment (configs/experiments/msrs_det, tools/experiments/msrs_det.sh).

Fast tests: the fixed split (disjoint, frame-id blocks, day and night in val), the configs
point at it, the split checker on a tiny synthetic MSRS layout. The e2e test runs the whole
script (all stages; the closed loop when its config exists) on 6 real MSRS pairs for 2
iterations per training stage (about 3 minutes on 2 CPU cores): `pytest -m e2e`.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmengine.config import Config

REPO = Path(__file__).resolve().parents[2]
CFG_DIR = REPO / 'configs' / 'experiments' / 'msrs_det'
SCRIPT = REPO / 'tools' / 'experiments' / 'msrs_det.sh'
SPLIT_TOOL = REPO / 'tools' / 'experiments' / 'msrs_split.py'


def read(path):
    return [s.strip() for s in Path(path).read_text().splitlines() if s.strip()]


def test_fixed_split_is_disjoint_blocks_with_day_and_night():
    train, val = read(CFG_DIR / 'splits' / 'train.txt'), read(CFG_DIR / 'splits' / 'val.txt')
    assert len(train) == 157 and len(val) == 50 and not set(train) & set(val)
    assert len(set(train)) == len(train) and len(set(val)) == len(val)
    assert {s[-1] for s in val} == {'D', 'N'}
    ids_t, ids_v = [int(s[:5]) for s in train], [int(s[:5]) for s in val]
    # whole id blocks: every val frame is at least 40 ids from every train frame
    assert min(abs(a - b) for a in ids_t for b in ids_v) >= 40


def test_fixed_split_matches_the_shared_data(shared_data):
    root = shared_data / 'det' / 'MSRS'
    stems = {p.stem for p in (root / 'ir').iterdir()}
    train, val = read(CFG_DIR / 'splits' / 'train.txt'), read(CFG_DIR / 'splits' / 'val.txt')
    assert set(train) | set(val) == stems


@pytest.mark.parametrize('name', ['det_train.py', 'det_eval.py', 'vfn_msrs.py'])
def test_configs_use_the_split(name):
    cfg = Config.fromfile(str(CFG_DIR / name))
    val = cfg.val_dataloader.dataset
    assert Path(val.ann_file).resolve() == (CFG_DIR / 'splits' / 'val.txt').resolve()
    assert cfg.val_dataloader.num_workers == 0
    if cfg.train_dataloader is not None:
        train = cfg.train_dataloader.dataset
        assert Path(train.ann_file).resolve() == (CFG_DIR / 'splits' / 'train.txt').resolve()
        assert cfg.train_dataloader.num_workers == 0
        assert not cfg.train_dataloader.persistent_workers
    if name.startswith('det_'):
        assert val.label_set == 'fusion' and val.type == 'MSRSDetDataset'
        assert cfg.model.task_adapter.model_overrides.bbox_head.num_classes == 3


def fake_msrs(root: Path, stems):
    """A tiny MSRS layout: ir/, vi/, classes.txt, labels_yolo/fusion/."""
    for d in ('ir', 'vi', 'labels_yolo/fusion'):
        (root / d).mkdir(parents=True)
    (root / 'classes.txt').write_text('person\nbicycle\ncar\n')
    for s in stems:
        cv2.imwrite(str(root / 'ir' / f'{s}.png'), np.zeros((24, 32), np.uint8))
        cv2.imwrite(str(root / 'vi' / f'{s}.png'), np.zeros((24, 32, 3), np.uint8))
        (root / 'labels_yolo' / 'fusion' / f'{s}.txt').write_text('0 0.5 0.5 0.2 0.4\n')


def run_split(*args):
    return subprocess.run([sys.executable, str(SPLIT_TOOL), *map(str, args)],
                          capture_output=True, text=True)


def test_split_tool_derives_train_and_rejects_overlap(tmp_path):
    stems = ['00001D', '00005D', '00100N', '00104N']
    fake_msrs(tmp_path / 'root', stems)
    (tmp_path / 'val.txt').write_text('00100N\n00104N\n')
    r = run_split('--data-root', tmp_path / 'root', '--val', tmp_path / 'val.txt',
                  '--out', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert read(tmp_path / 'out' / 'train.txt') == ['00001D', '00005D']
    assert read(tmp_path / 'out' / 'val.txt') == ['00100N', '00104N']
    assert 'smallest frame-id distance between train and val: 95' in r.stdout

    (tmp_path / 'train.txt').write_text('00001D\n00100N\n')
    r = run_split('--data-root', tmp_path / 'root', '--val', tmp_path / 'val.txt',
                  '--train', tmp_path / 'train.txt', '--out', tmp_path / 'out2')
    assert r.returncode != 0 and 'share 1 stem' in r.stderr

    (tmp_path / 'bad.txt').write_text('00001D\n99999D\n')
    r = run_split('--data-root', tmp_path / 'root', '--val', tmp_path / 'bad.txt',
                  '--out', tmp_path / 'out3')
    assert r.returncode != 0 and '99999D' in r.stderr


@pytest.mark.e2e
def test_script_runs_the_pipeline_on_a_handful_of_pairs(shared_data, tmp_path):
    root = shared_data / 'det' / 'MSRS'
    train = read(CFG_DIR / 'splits' / 'train.txt')[:4]
    val = read(CFG_DIR / 'splits' / 'val.txt')[:1] + read(CFG_DIR / 'splits' / 'val.txt')[-1:]
    (tmp_path / 'train.txt').write_text('\n'.join(train) + '\n')
    (tmp_path / 'val.txt').write_text('\n'.join(val) + '\n')
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    cmd = ['bash', str(SCRIPT), '--data-root', str(root), '--work-dir', str(work),
           '--train-list', str(tmp_path / 'train.txt'), '--val-list', str(tmp_path / 'val.txt'),
           '--vfn-iters', '2', '--det-iters', '2', '--cl-iters', '2', '--python', sys.executable]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ('vfn', 'det_vfn', 'det_vis', 'det_ir'):
        assert (work / name / 'iter_2.pth').is_file()
    for mode in ('vfn', 'vis', 'ir'):
        assert (work / 'export' / f'det_{mode}.pth').is_file()
        m = json.loads((work / 'eval' / mode / 'metrics.json').read_text())
        assert m['mode'] == mode and 'coco/bbox_mAP_50' in m['metrics']
        assert sorted(p.stem for p in (work / 'eval' / mode / 'panels').glob('*.png')) == \
            sorted(val)
    assert sorted(p.stem for p in (work / 'eval' / 'vfn' / 'fused').glob('*.png')) == sorted(val)
    assert (work / 'fusion' / 'metrics' / 'summary.csv').is_file()
    assert 'VFN fusion' in (work / 'results.md').read_text()
    if (CFG_DIR / 'cldyn_msrs_det.py').is_file():
        assert (work / 'eval' / 'cldyn' / 'metrics.json').is_file()

    # rerun: every stage finds its output and skips
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'training in' not in r.stdout and 'resuming' not in r.stdout
    assert 'vfn: done' in r.stdout and 'eval vis: done' in r.stdout
