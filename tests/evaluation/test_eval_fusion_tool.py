"""tools/analysis_tools/eval_fusion.py: pairing by stem, batching of mixed sizes, outputs, errors,
start-up."""
import csv
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cldyn_mm.evaluation.functional import FUSION_METRIC_NAMES, compute_fusion_metrics, load_grey

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOL = REPO_ROOT / 'tools' / 'analysis_tools' / 'eval_fusion.py'


def _img(h, w, seed, colour):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.sin(xx / (4.0 + seed)) * 70 + np.cos(yy / 6.0) * 40 + 128
    if colour:
        img = np.stack([base, 255 - base * 0.7, base * 0.5 + 60], -1) + rng.normal(0, 6, (h, w, 3))
    else:
        img = base + rng.normal(0, 6, (h, w))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def tree(tmp_path):
    """ir/ vi/ and two fused folders; stems of two sizes, lossless files of mixed extensions."""
    spec = {
        's1': (48, 64, '.png'),
        's2': (48, 64, '.bmp'),
        's3': (60, 44, '.tif'),
        'S4': (48, 64, '.PNG')
    }
    for d in ('ir', 'vi', 'fa', 'fb'):
        (tmp_path / d).mkdir()
    for i, (stem, (h, w, ext)) in enumerate(spec.items()):
        cv2.imwrite(str(tmp_path / 'ir' / f'{stem}{ext}'), _img(h, w, i, False))
        cv2.imwrite(str(tmp_path / 'vi' / f'{stem}.png'), _img(h, w, i + 10, True))
        cv2.imwrite(str(tmp_path / 'fa' / f'{stem}.png'), _img(h, w, i + 20, True))
        cv2.imwrite(str(tmp_path / 'fb' / f'{stem}.bmp'), _img(h, w, i + 30, False))
    (tmp_path / 'vi' / 'notes.txt').write_text('ignored: not an image')
    return tmp_path


def _read_csv(path):
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def _expected(root, fused_dir, stem):

    def find(d):
        return next(p for p in (root / d).iterdir() if p.stem == stem)

    A, B, F = (torch.from_numpy(load_grey(find(d))) for d in ('ir', 'vi', fused_dir))
    return {k: float(v) for k, v in compute_fusion_metrics(A, B, F).items()}


def test_scores_every_method_and_stem(tree, eval_tool):
    out = tree / 'out'
    code = eval_tool.main([
        '--ir',
        str(tree / 'ir'), '--vi',
        str(tree / 'vi'), '--fused',
        str(tree / 'fa'), '--fused',
        str(tree / 'fb'), '--out',
        str(out), '--batch-size', '2', '--no-progress'
    ])
    assert code == 0
    rows = _read_csv(out / 'per_image.csv')
    assert list(rows[0]) == ['method', 'stem', *FUSION_METRIC_NAMES]
    assert [(r['method'], r['stem']) for r in rows] == [(m, s) for m in ('fa', 'fb')
                                                        for s in ('S4', 's1', 's2', 's3')]
    for r in rows:
        want = _expected(tree, r['method'], r['stem'])
        for k in FUSION_METRIC_NAMES:
            assert float(r[k]) == pytest.approx(want[k], rel=1e-9, abs=1e-12), (r['stem'], k)
    summary = _read_csv(out / 'summary.csv')
    assert [s['method'] for s in summary] == ['fa', 'fb']
    for s in summary:
        for k in FUSION_METRIC_NAMES:
            mean = np.mean([float(r[k]) for r in rows if r['method'] == s['method']])
            assert float(s[k]) == pytest.approx(mean, rel=1e-9)
    md = (out / 'summary.md').read_text(encoding='utf-8')
    assert '| fa |' in md and '| fb |' in md and 'Qcv ↓' in md and 'mean over 4 images' in md
    assert not (out / 'summary.png').exists()


def test_plot_writes_a_bar_chart(tree, eval_tool):
    pytest.importorskip('matplotlib')
    out = tree / 'out_plot'
    code = eval_tool.main([
        '--ir',
        str(tree / 'ir'), '--vi',
        str(tree / 'vi'), '--fused',
        str(tree / 'fa'), '--fused',
        str(tree / 'fb'), '--out',
        str(out), '--metrics', 'EN', 'Qabf', 'Qcv', '--plot', '--no-progress'
    ])
    assert code == 0
    png = cv2.imread(str(out / 'summary.png'))
    assert png is not None and png.shape[0] > 100 and png.shape[1] > 300


def test_plot_without_matplotlib_says_how_to_install(tree, eval_tool, capsys, monkeypatch):
    # a None entry in sys.modules makes `import matplotlib` raise ImportError
    for name in [m for m in sys.modules if m == 'matplotlib' or m.startswith('matplotlib.')]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, 'matplotlib', None)
    out = tree / 'out_noplot'
    _run_expect_error(eval_tool, capsys, [
        '--ir',
        str(tree / 'ir'), '--vi',
        str(tree / 'vi'), '--fused',
        str(tree / 'fa'), '--out',
        str(out), '--plot'
    ], '--plot needs matplotlib', 'pip install matplotlib')
    assert not out.exists()  # checked before any work is done


def test_names_and_metric_subset(tree, eval_tool):
    out = tree / 'out2'
    code = eval_tool.main([
        '--ir',
        str(tree / 'ir'), '--vi',
        str(tree / 'vi'), '--fused',
        str(tree / 'fa'), '--out',
        str(out), '--metrics', 'qabf', 'EN', '--names', 'mine', '--no-progress'
    ])
    assert code == 0
    rows = _read_csv(out / 'per_image.csv')
    assert list(rows[0]) == ['method', 'stem', 'Qabf', 'EN']
    assert {r['method'] for r in rows} == {'mine'}
    assert not (out / 'summary.png').exists()


def _run_expect_error(eval_tool, capsys, argv, *fragments):
    code = eval_tool.main([*argv, '--no-progress'])
    err = capsys.readouterr().err
    assert code == 2, err
    for frag in fragments:
        assert frag in err, err
    return err


def test_missing_partners_are_named(tree, eval_tool, capsys):
    os.remove(tree / 'vi' / 's2.png')
    os.remove(tree / 'fb' / 's3.bmp')
    cv2.imwrite(str(tree / 'fa' / 'extra.png'), _img(48, 64, 99, True))
    base = ['--ir', str(tree / 'ir'), '--vi', str(tree / 'vi'), '--out', str(tree / 'o')]
    _run_expect_error(
        eval_tool, capsys,
        [*base, '--fused', str(tree / 'fa'), '--fused',
         str(tree / 'fb')], "in --ir", "but not in --vi", 's2', 'fb) lacks s3',
        'fa) has images without IR/VIS partners: extra')
    assert not (tree / 'o').exists()


def test_other_input_errors(tree, eval_tool, capsys):
    base = ['--ir', str(tree / 'ir'), '--vi', str(tree / 'vi'), '--out', str(tree / 'o')]
    _run_expect_error(eval_tool, capsys, [*base, '--fused', str(tree / 'nowhere')],
                      '--fused (nowhere) folder not found')
    _run_expect_error(eval_tool, capsys,
                      [*base, '--fused', str(tree / 'fa'), '--names', 'a', 'b'],
                      '--names has 2 names')
    _run_expect_error(
        eval_tool, capsys,
        [*base, '--fused', str(tree / 'fa'), '--metrics', 'EN', 'FMI'], "'FMI'", 'valid names are')
    cv2.imwrite(str(tree / 'fa' / 's1.jpg'), _img(48, 64, 5, True))
    _run_expect_error(eval_tool, capsys, [*base, '--fused', str(tree / 'fa')],
                      "two images with stem 's1'")
    os.remove(tree / 'fa' / 's1.jpg')
    os.remove(tree / 'fa' / 's1.png')
    cv2.imwrite(str(tree / 'fa' / 's1.png'), _img(40, 64, 5, True))
    _run_expect_error(eval_tool, capsys, [*base, '--fused', str(tree / 'fa')],
                      "size mismatch for stem 's1'", 's1.png is 64x40')


def test_start_up_does_not_import_mmengine():
    code = ('import importlib.util, sys\n'
            f'spec = importlib.util.spec_from_file_location("t", {str(TOOL)!r})\n'
            'm = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n'
            'fn = m._functional(); m.parse_args(["--ir", "a", "--vi", "b", "--fused", "c",'
            ' "--out", "d"])\n'
            'assert callable(fn.compute_fusion_metrics)\n'
            'print(sorted(k for k in sys.modules if k.split(".")[0] in ("mmengine", "cldyn_mm")))')
    res = subprocess.run([sys.executable, '-c', code],
                         capture_output=True,
                         text=True,
                         cwd=str(REPO_ROOT),
                         timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == '[]'


def test_cli_on_real_msrs_pairs(shared_data, tmp_path):
    """The command line on four real MSRS pairs (linked, not copied) with one fused folder."""
    src = shared_data / 'ivif_pairs' / 'MSRS'
    stems = sorted(p.stem for p in (src / 'ir').iterdir())[:4]
    for d in ('ir', 'vi', 'avg'):
        (tmp_path / d).mkdir()
    for s in stems:
        for d in ('ir', 'vi'):
            os.symlink(src / d / f'{s}.png', tmp_path / d / f'{s}.png')
        a = cv2.imread(str(src / 'ir' / f'{s}.png')).astype(np.float32)
        b = cv2.imread(str(src / 'vi' / f'{s}.png')).astype(np.float32)
        cv2.imwrite(str(tmp_path / 'avg' / f'{s}.png'), np.round((a + b) / 2).astype(np.uint8))
    res = subprocess.run([
        sys.executable,
        str(TOOL), '--ir',
        str(tmp_path / 'ir'), '--vi',
        str(tmp_path / 'vi'), '--fused',
        str(tmp_path / 'avg'), '--out',
        str(tmp_path / 'out')
    ],
                         capture_output=True,
                         text=True,
                         cwd=str(REPO_ROOT),
                         timeout=300)
    assert res.returncode == 0, res.stderr
    assert '| avg |' in res.stdout
    assert 'eval_fusion' in res.stderr  # the tqdm progress bar
    rows = _read_csv(tmp_path / 'out' / 'per_image.csv')
    assert [r['stem'] for r in rows] == stems
    first = _expected(tmp_path, 'avg', stems[0])
    for k in FUSION_METRIC_NAMES:
        assert float(rows[0][k]) == pytest.approx(first[k], rel=1e-9), k
