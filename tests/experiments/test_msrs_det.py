"""The msrs_det experiment (configs/experiments/msrs_det, tools/experiments/msrs_det.sh).

Fast tests: the fixed split (disjoint, frame-id blocks, day and night in val), the configs
point at it, the split checker on a tiny synthetic MSRS layout. The e2e test runs the whole
script (all stages; the closed loop when its config exists) on 6 real MSRS pairs for 2
iterations per training stage (about 3 minutes on 2 CPU cores): `pytest -m e2e`.
"""
import json
import os
import shutil
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


@pytest.mark.parametrize('name', [
    'rtmdet-tiny_fused_1xb4-1200_msrs.py', 'rtmdet-tiny_fused-eval_msrs.py', 'vfn_1xb8-500_msrs.py'
])
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
                          capture_output=True,
                          text=True)


def test_split_tool_derives_train_and_rejects_overlap(tmp_path):
    stems = ['00001D', '00005D', '00100N', '00104N']
    fake_msrs(tmp_path / 'root', stems)
    (tmp_path / 'val.txt').write_text('00100N\n00104N\n')
    r = run_split('--data-root', tmp_path / 'root', '--val', tmp_path / 'val.txt', '--out',
                  tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert read(tmp_path / 'out' / 'train.txt') == ['00001D', '00005D']
    assert read(tmp_path / 'out' / 'val.txt') == ['00100N', '00104N']
    assert 'smallest frame-id distance between train and val: 95' in r.stdout

    (tmp_path / 'train.txt').write_text('00001D\n00100N\n')
    r = run_split('--data-root', tmp_path / 'root', '--val', tmp_path / 'val.txt', '--train',
                  tmp_path / 'train.txt', '--out', tmp_path / 'out2')
    assert r.returncode != 0 and 'share 1 stem' in r.stderr

    (tmp_path / 'bad.txt').write_text('00001D\n99999D\n')
    r = run_split('--data-root', tmp_path / 'root', '--val', tmp_path / 'bad.txt', '--out',
                  tmp_path / 'out3')
    assert r.returncode != 0 and '99999D' in r.stderr


@pytest.mark.e2e
def test_script_runs_the_pipeline_on_a_handful_of_pairs(shared_data, tmp_path):
    root = shared_data / 'det' / 'MSRS'
    if not (root / 'fused' / 'SeAFusion').is_dir():
        pytest.skip('needs det/MSRS/fused/SeAFusion')
    train = read(CFG_DIR / 'splits' / 'train.txt')[:4]
    val = read(CFG_DIR / 'splits' / 'val.txt')[:1] + read(CFG_DIR / 'splits' / 'val.txt')[-1:]
    (tmp_path / 'train.txt').write_text('\n'.join(train) + '\n')
    (tmp_path / 'val.txt').write_text('\n'.join(val) + '\n')
    work = tmp_path / 'work'
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    base = [
        'bash',
        str(SCRIPT), '--data-root',
        str(root), '--work-dir',
        str(work), '--train-list',
        str(tmp_path / 'train.txt'), '--val-list',
        str(tmp_path / 'val.txt'), '--python', sys.executable
    ]
    cmd = base + ['--vfn-iters', '2', '--det-iters', '2', '--cl-iters', '2', '--seeds', '0,1']
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for name in ('vfn', 'det_vfn', 'det_vis', 'det_ir', 'det_seafusion', 'cldyn_seed0',
                 'cldyn_seed1', 'det_vfn_more'):
        assert (work / name / 'iter_2.pth').is_file(), name
        assert (work / name / 'finished').read_text().strip() == str(work / name / 'iter_2.pth')
    assert (work / 'export' / 'det_vfn.pth').is_file()
    # the seed is chosen on the train split (both evaluated there), never on val
    ranking = (work / 'select' / 'ranking.tsv').read_text().splitlines()
    assert sorted(r.split('\t')[0] for r in ranking) == ['0', '1']
    for seed in (0, 1):
        m = json.loads((work / 'select' / f'cldyn_seed{seed}' / 'metrics.json').read_text())
        assert m['num_images'] == 4 and m['ann_file'].endswith('train.txt')
    selected = (work / 'cldyn_selected').read_text().split('\t')
    assert selected[0] == ranking[0].split('\t')[0]  # lower middle of two
    assert not (work / 'select' / 'cldyn_seed0' / 'panels').exists()  # scoring draws nothing
    # select_eval scores a seed alone (e.g. while others train) and chooses nothing
    shutil.rmtree(work / 'select' / 'cldyn_seed1')
    r = subprocess.run(
        base + ['--stage', 'select_eval', '--seeds', '1'],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert (work / 'select' / 'cldyn_seed1' / 'metrics.json').is_file()
    assert (work / 'cldyn_selected').read_text().split('\t') == selected
    modes = ('vis', 'ir', 'vfn', 'cldyn', 'frozen_vis', 'frozen_ir', 'vfn_more', 'seafusion',
             'cldyn_seed0', 'cldyn_seed1')
    for mode in modes:
        m = json.loads((work / 'eval' / mode / 'metrics.json').read_text())
        assert 'coco/bbox_mAP_50' in m['metrics'] and m['num_images'] == 2, mode
        assert (work / 'eval' / mode / 'coco.gt.json').is_file()
        panels = sorted(p.stem for p in (work / 'eval' / mode / 'panels').glob('*.png'))
        # the seeds' evaluations (their spread) draw nothing; the panels are cldyn's
        assert panels == ([] if mode.startswith('cldyn_seed') else sorted(val)), mode
    cl = json.loads((work / 'eval' / 'cldyn' / 'metrics.json').read_text())
    assert f'model.fuser_checkpoint={selected[1]}' in cl['cfg_options']
    sea = json.loads((work / 'eval' / 'seafusion' / 'metrics.json').read_text())
    assert 'test_dataloader.dataset.data_prefix.vi=fused/SeAFusion' in sea['cfg_options']
    assert sorted(p.stem for p in (work / 'eval' / 'vfn' / 'fused').glob('*.png')) == sorted(val)
    summary = (work / 'fusion' / 'metrics' / 'summary.csv').read_text()
    assert 'VFN_full' in summary and 'SeAFusion' in summary
    report = (work / 'results.md').read_text()
    assert 'VFN fusion' in report and 'SeAFusion fusion' in report and '95 % CI' in report
    assert 'list `' + str(work / 'splits' / 'val.txt') + '`: 2 pairs' in report
    assert '| cldyn − vfn |' in report and 'Selected closed-loop seed' in report

    # rerun: every stage finds its output and skips
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'training in' not in r.stdout and 'resuming' not in r.stdout
    assert 'vfn: done' in r.stdout and 'eval vis: done' in r.stdout

    # evaluation on another list, without the training's iteration counts: the runs' final
    # checkpoints are found, the earlier results of these modes are replaced, and the header
    # describes what each row was evaluated on
    other = tmp_path / 'other.txt'
    other.write_text('\n'.join(train[:3]) + '\n')
    r = subprocess.run(
        base + [
            '--seeds', '0,1', '--stage', 'eval,report', '--eval-list',
            str(other), '--eval-modes', 'vfn,cldyn'
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert 'holds another root or list' in r.stdout
    for mode in ('vfn', 'cldyn'):
        m = json.loads((work / 'eval' / mode / 'metrics.json').read_text())
        assert m['num_images'] == 3 and m['ann_file'] == str(other)
    report = (work / 'results.md').read_text()
    assert f'list `{other}`: 3 pairs (modes vfn, cldyn)' in report
    assert '| cldyn − vfn |' in report and '| vfn − ir |' not in report  # not paired any more

    # a requested evaluation whose run has not finished is an error naming the run
    work2 = tmp_path / 'work2'
    (work2 / 'splits').mkdir(parents=True)
    r = subprocess.run(
        base + [
            '--work-dir',
            str(work2), '--stage', 'eval', '--vfn-checkpoint',
            str(work / 'vfn' / 'iter_2.pth'), '--eval-modes', 'vis'
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path)
    assert r.returncode != 0
    assert 'eval vis cannot run: det_vis: not trained' in r.stderr


def test_script_rejects_bad_arguments(tmp_path):
    for args, message in ((['--weights', 'cloud'], '--weights must be work or zoo'),
                          (['--seeds', '0,x'],
                           '--seeds must be'), (['--vfn-checkpoint',
                                                 str(tmp_path / 'none.pth')], 'does not exist'),
                          (['--data-root', str(tmp_path / 'nowhere')],
                           'is not a folder'), (['--weights', 'zoo', '--stage',
                                                 'closed_loop'], 'trains')):
        r = subprocess.run(['bash', str(SCRIPT), '--work-dir',
                            str(tmp_path / 'w'), *args],
                           capture_output=True,
                           text=True)
        assert r.returncode == 2 and message in r.stderr, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1


@pytest.mark.e2e
def test_script_evaluates_shipped_weights_on_another_root(shared_data, tmp_path):
    """--weights zoo: no training, the models of a model index (here: random weights under a
    test index, CLDYN_MODEL_INDEX) on another root of the same layout."""
    import importlib.util

    import torch
    root = shared_data / 'det' / 'MSRS'
    if not (root / 'fused' / 'SeAFusion').is_dir():
        pytest.skip('needs det/MSRS/fused/SeAFusion')
    spec = importlib.util.spec_from_file_location(
        'pack_zoo_model', REPO / 'tools' / 'model_converters' / 'pack_zoo_model.py')
    pack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pack)
    models = {
        'vfn_ivif': 'configs/vfn/vfn_1xb8-2k_ivifmix.py',
        'cldyn_rtmdet-tiny_msrs': 'configs/cldyn/cldyn_rtmdet-tiny_1xb4-200_msrs.py',
        'rtmdet-tiny_seafusion_msrs': 'configs/cldyn/rtmdet-tiny_1xb4-1200_msrs-seafusion.py'
    }
    entries = []
    for name, config in models.items():
        torch.manual_seed(0)
        weights = tmp_path / f'{name}.pth'
        torch.save(dict(state_dict=pack.build_for_check(str(REPO / config)).state_dict()), weights)
        entries.append(f'  - Name: {name}\n    Config: {REPO / config}\n    Weights: {weights}')
    (tmp_path / 'meta.yml').write_text('Models:\n' + '\n'.join(entries) + '\n')
    (tmp_path / 'index.yml').write_text(f'Import:\n  - {tmp_path / "meta.yml"}\n')
    # another root: a copy of three MSRS pairs with their labels and SeAFusion images
    other = tmp_path / 'other'
    stems = read(CFG_DIR / 'splits' / 'val.txt')[:3]
    for sub in ('ir', 'vi', 'labels_yolo/fusion', 'fused/SeAFusion'):
        (other / sub).mkdir(parents=True)
        for s in stems:
            for f in (root / sub).glob(f'{s}.*'):
                (other / sub / f.name).write_bytes(f.read_bytes())
    (other / 'classes.txt').write_text((root / 'classes.txt').read_text())
    work = tmp_path / 'work'
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        MKL_NUM_THREADS='1',
        CLDYN_MODEL_INDEX=str(tmp_path / 'index.yml'))
    r = subprocess.run([
        'bash',
        str(SCRIPT), '--work-dir',
        str(work), '--weights', 'zoo', '--stage', 'eval,fusion,report', '--eval-root',
        str(other), '--python', sys.executable
    ],
                       capture_output=True,
                       text=True,
                       env=env,
                       cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    for mode in ('vis', 'ir', 'vfn', 'cldyn', 'seafusion'):
        m = json.loads((work / 'eval' / mode / 'metrics.json').read_text())
        assert m['num_images'] == 3 and m['data_root'] == f'{other}/', mode
    assert json.loads((work / 'eval' / 'cldyn' / 'metrics.json').read_text())['checkpoint'] == str(
        tmp_path / 'cldyn_rtmdet-tiny_msrs.pth')
    summary = (work / 'fusion' / 'metrics' / 'summary.csv').read_text()
    assert 'VFN_full' in summary and 'SeAFusion' in summary and 'CLDyN_det' in summary
    report = (work / 'results.md').read_text()
    assert f'Evaluated on `{other}/`' in report and ': 3 pairs.' in report
    assert 'Training split' not in report and 'Nothing was trained in this work dir' in report
    assert "| CLDyN fusion | the shipped CLDyN model (its frozen detector + RSC) |" in report

    # an unknown model is a one-line error
    env['CLDYN_MODEL_INDEX'] = str(tmp_path / 'meta.yml')  # not an index: no Import
    r = subprocess.run([
        'bash',
        str(SCRIPT), '--work-dir',
        str(tmp_path / 'w2'), '--weights', 'zoo', '--stage', 'eval', '--eval-root',
        str(other), '--python', sys.executable
    ],
                       capture_output=True,
                       text=True,
                       env=env,
                       cwd=tmp_path)
    assert r.returncode != 0 and '--weights zoo:' in r.stderr


def test_report_describes_what_each_row_was_evaluated_on(tmp_path):
    """msrs_det_report.py on a synthetic work dir: rows, evaluated sets, shipped networks."""
    work = tmp_path / 'w'
    for mode, root, n in (('vis', '/a/', 5), ('cldyn', '/a/', 5), ('vfn', '/b/', 3)):
        d = work / 'eval' / mode
        d.mkdir(parents=True)
        (d / 'metrics.json').write_text(
            json.dumps(
                dict(
                    mode=mode,
                    data_root=root,
                    ann_file=f'{root}list.txt',
                    num_images=n,
                    seconds=1.0,
                    metrics={
                        'coco/bbox_mAP': 0.25,
                        'coco/bbox_mAP_50': 0.5,
                        'coco/bbox_mAP_l': -1.0
                    })))
    (work / 'weights_source').write_text('shipped models of model-index.yml (--weights zoo)')
    r = subprocess.run(
        [sys.executable,
         str(REPO / 'tools' / 'experiments' / 'msrs_det_report.py'),
         str(work)],
        capture_output=True,
        text=True)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert 'Evaluated on `/a/`, list `/a/list.txt`: 5 pairs (modes vis, cldyn).' in out
    assert 'Evaluated on `/b/`, list `/b/list.txt`: 3 pairs (modes vfn).' in out
    assert 'Nothing was trained in this work dir' in out and 'Training split' not in out
    assert ("| CLDyN fusion | the shipped CLDyN model (its frozen detector + RSC) | 25.0 | "
            "50.0 | — | — | — | — | 1.0 |") in out  # no COCO files: no interval; -1: a dash
    assert "| VIS only | the shipped CLDyN model's detector" in out
