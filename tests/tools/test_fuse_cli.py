"""tools/fuse.py on FusionInferencer: model names, --pred-out, and user mistakes as one line on
stderr with exit code 1 (no traceback; --debug shows it)."""
import json
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmdet.evaluation.functional import bbox_overlaps
from mmengine.config import Config

from cldyn_mm.datasets import MSRSDetDataset
from cldyn_mm.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
VFN_CONFIG = osp.join(REPO, 'configs', 'vfn', 'vfn_1xb8-200_demo.py')
DET_CONFIG = osp.join(REPO, 'configs', 'fused_task', 'rtmdet-tiny_fused-eval_demo.py')
DET_OPTIONS = [
    'model.mode=cldyn', 'model.task_adapter.model_overrides.test_cfg.score_thr=0.0',
    'model.task_adapter.model_overrides.test_cfg.min_bbox_size=-1',
    'test_dataloader.dataset.pipeline.1.scale=(64,48)'
]  # fast: no upscaling

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(autouse=True)
def _repo_on_path(monkeypatch):
    monkeypatch.syspath_prepend(REPO)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """Two 64 x 48 pairs in ir/ vi/ and checkpoints of a random VFN fuser and CLDyN detector."""
    root = tmp_path_factory.mktemp('cli')
    rng = np.random.default_rng(0)
    for m in ('ir', 'vi'):
        (root / m).mkdir()
    for stem in ('p0', 'p1'):
        cv2.imwrite(str(root / 'ir' / f'{stem}.png'), rng.integers(0, 256, (48, 64), np.uint8))
        cv2.imwrite(str(root / 'vi' / f'{stem}.png'), rng.integers(0, 256, (48, 64, 3), np.uint8))
    torch.manual_seed(0)
    vfn = MODELS.build(Config.fromfile(VFN_CONFIG).model)
    torch.save({'state_dict': vfn.state_dict(), 'meta': {}}, root / 'vfn.pth')
    cfg = Config.fromfile(DET_CONFIG)
    cfg.merge_from_dict({'model.mode': 'cldyn'})
    torch.save({'state_dict': MODELS.build(cfg.model).state_dict(), 'meta': {}}, root / 'det.pth')
    (root / 'text.pth').write_text('not a checkpoint\n')
    return root


def _cli(*args):
    from tools.fuse import cli
    return cli([str(a) for a in args])


def _io(root, out='out'):
    return ['--ir', root / 'ir', '--vi', root / 'vi', '--out', root / out, '--no-progress']


def _one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('fuse.py: error: '), err
    assert 'Traceback' not in err[0]
    for needle in needles:
        assert needle in err[0], (needle, err[0])
    return err[0]


def test_config_and_checkpoint_still_work(data, capsys):
    assert _cli(VFN_CONFIG, data / 'vfn.pth', *_io(data, 'o1')) == 0
    assert 'fused 2 pair(s)' in capsys.readouterr().out
    assert sorted(p.name for p in (data / 'o1').iterdir()) == ['p0.png', 'p1.png']


def test_model_name_from_the_index(data, tmp_path, monkeypatch, capsys):
    (tmp_path / 'metafile.yml').write_text(
        f'Models:\n  - Name: vfn_ivif\n    Config: {VFN_CONFIG}\n'
        f'    Weights: {data / "vfn.pth"}\n')
    (tmp_path / 'model-index.yml').write_text('Import: [metafile.yml]\n')
    monkeypatch.setenv('CLDYN_MODEL_INDEX', str(tmp_path / 'model-index.yml'))
    assert _cli('vfn_ivif', *_io(data, 'o2')) == 0
    assert _cli(*_io(data, 'o3')) == 0  # the default model
    for out in ('o2', 'o3'):
        for stem in ('p0', 'p1'):
            a = cv2.imread(str(data / out / f'{stem}.png'))
            assert np.array_equal(a, cv2.imread(str(data / 'o1' / f'{stem}.png')))
    assert 'fused 2 pair(s)' in capsys.readouterr().out


def test_pred_out_writes_coco_results(data, capsys):
    assert _cli(DET_CONFIG, data / 'det.pth', *_io(data, 'det_fused'), '--pred-out',
                data / 'det.json', '--show-dir', data / 'panels', '--score-thr', '0',
                '--cfg-options', *DET_OPTIONS) == 0
    assert 'predictions (det) written to' in capsys.readouterr().out
    records = json.loads((data / 'det.json').read_text())
    assert records and set(records[0]) == {'image_id', 'bbox', 'score', 'category_id'}
    assert {r['image_id'] for r in records} <= {'p0', 'p1'}
    assert cv2.imread(str(data / 'det_fused' / 'p0.png')).shape == (48, 64, 3)
    assert cv2.imread(str(data / 'panels' / 'p0.png')).shape == (48, 4 * 64 + 12, 3)


def test_user_mistakes_end_with_one_line(data, tmp_path, capsys):
    assert _cli('no_such_model', *_io(data)) == 1
    _one_error_line(capsys, "'no_such_model' is not in the model index")
    assert _cli(VFN_CONFIG, *_io(data)) == 1
    _one_error_line(capsys, 'needs a checkpoint')
    assert _cli(VFN_CONFIG, data / 'vfn.pth', '--ir', tmp_path / 'nope', '--vi', data / 'vi',
                '--out', tmp_path / 'o') == 1
    _one_error_line(capsys, 'image folder not found', 'nope')
    assert _cli(VFN_CONFIG, data / 'det.pth', *_io(data)) == 1
    _one_error_line(capsys, 'det.pth does not fit the model VFNFuser')
    assert _cli(VFN_CONFIG, data / 'text.pth', *_io(data)) == 1
    _one_error_line(capsys, 'text.pth is not a PyTorch checkpoint')
    assert _cli(VFN_CONFIG, data / 'vfn.pth', *_io(data), '--pred-out', tmp_path / 'p.json') == 1
    _one_error_line(capsys, 'pred_out', 'has no task network')
    for m in ('ir', 'vi'):
        (tmp_path / m).mkdir()
    cv2.imwrite(str(tmp_path / 'ir' / 'a.png'), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(tmp_path / 'vi' / 'a.png'), np.zeros((8, 9, 3), np.uint8))
    assert _cli(VFN_CONFIG, data / 'vfn.pth', *_io(tmp_path)) == 1
    _one_error_line(capsys, 'differ in size', 'a.png is 8x8')
    cv2.imwrite(str(tmp_path / 'ir' / 'b.png'), np.zeros((8, 8), np.uint8))
    assert _cli(VFN_CONFIG, data / 'vfn.pth', *_io(tmp_path)) == 1
    _one_error_line(capsys, 'no partner', 'b')
    (tmp_path / 'vi' / 'b.png').write_bytes(b'garbage')
    cv2.imwrite(str(tmp_path / 'vi' / 'a.png'), np.zeros((8, 8, 3), np.uint8))
    assert _cli(VFN_CONFIG, data / 'vfn.pth', *_io(tmp_path)) == 1
    _one_error_line(capsys, 'cannot decode image file', 'b.png')
    with pytest.raises(OSError, match='cannot decode image file'):
        _cli(VFN_CONFIG, data / 'vfn.pth', *_io(tmp_path), '--debug')


def test_no_model_argument_fuses_real_pairs_with_the_shipped_vfn(shared_data, tmp_path):
    """`tools/fuse.py --ir --vi --out` with nothing else: the shipped vfn_ivif (a real process,
    real MSRS pairs): colour images of the inputs' size that carry both sources."""
    root = shared_data / 'det' / 'MSRS'
    stems = ['00004N', '00204D']  # a night and a day pair of the val split
    for m in ('ir', 'vi'):
        (tmp_path / m).mkdir()
        for s in stems:
            (tmp_path / m / f'{s}.png').symlink_to(root / m / f'{s}.png')
    proc = subprocess.run([
        sys.executable,
        osp.join(REPO, 'tools', 'fuse.py'), '--ir',
        str(tmp_path / 'ir'), '--vi',
        str(tmp_path / 'vi'), '--out',
        str(tmp_path / 'o'), '--no-progress'
    ],
                          capture_output=True,
                          text=True,
                          cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    for s in stems:
        fused = cv2.imread(str(tmp_path / 'o' / f'{s}.png'))
        ir = cv2.imread(str(root / 'ir' / f'{s}.png'), cv2.IMREAD_GRAYSCALE)
        vi = cv2.imread(str(root / 'vi' / f'{s}.png'))
        assert fused.shape == vi.shape
        y = cv2.cvtColor(fused, cv2.COLOR_BGR2GRAY).astype(np.float64)
        vy = cv2.cvtColor(vi, cv2.COLOR_BGR2GRAY).astype(np.float64)
        # the visible scene is kept, and the infrared's hot targets are added to it: where
        # the IR is hottest (top 2 %) the fusion is much brighter than the visible image
        # (measured: +38 / +23 grey levels), elsewhere about equal (+0.3 / +2.8)
        assert np.corrcoef(y.ravel(), vy.ravel())[0, 1] > 0.8, s
        hot = ir >= np.percentile(ir, 98)
        assert (y - vy)[hot].mean() > 10, s
        assert abs((y - vy)[~hot].mean()) < 8, s


def test_shipped_cldyn_model_fuses_for_its_detector_and_writes_its_boxes(shared_data, tmp_path):
    """`tools/fuse.py cldyn_rtmdet-tiny_msrs ... --pred-out p.json` on two real MSRS val pairs (a
    real process): the task-customized fusion differs from the plain VFN fusion, and the COCO
    records are the detector's boxes on it, in pixels of the pair, that find the labelled
    objects."""
    root = shared_data / 'det' / 'MSRS'
    stems = ['00004N', '00204D']
    for m in ('ir', 'vi', 'labels_yolo/fusion'):
        (tmp_path / m).mkdir(parents=True)
        for s in stems:
            name = f'{s}.txt' if m.startswith('labels') else f'{s}.png'
            (tmp_path / m / name).symlink_to(root / m / name)
    (tmp_path / 'classes.txt').symlink_to(root / 'classes.txt')
    truth = {d['stem']: d for d in MSRSDetDataset(data_root=str(tmp_path), test_mode=True)}

    def fuse(*args):
        command = [sys.executable, osp.join(REPO, 'tools', 'fuse.py'), *args]
        command += ['--ir', str(tmp_path / 'ir'), '--vi', str(tmp_path / 'vi'), '--no-progress']
        proc = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
        assert proc.returncode == 0, proc.stderr[-2000:]

    fuse('cldyn_rtmdet-tiny_msrs', '--out', str(tmp_path / 'cldyn'), '--pred-out',
         str(tmp_path / 'p.json'))
    fuse('--out', str(tmp_path / 'vfn'))
    records = json.loads((tmp_path / 'p.json').read_text())
    for s in stems:
        cldyn = cv2.imread(str(tmp_path / 'cldyn' / f'{s}.png')).astype(np.float64)
        vfn = cv2.imread(str(tmp_path / 'vfn' / f'{s}.png')).astype(np.float64)
        assert cldyn.shape == vfn.shape == (480, 640, 3)
        # measured: 4.8 (00004N) and 7.2 (00204D) grey levels from the VFN fusion on average
        assert np.abs(cldyn - vfn).mean() > 1.0, s
        mine = [r for r in records if r['image_id'] == s]
        assert all(r['category_id'] in (0, 1, 2) and 0 <= r['score'] <= 1 for r in mine)
        gts = truth[s]['instances']
        sure = [r for r in mine if r['score'] >= 0.3]
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (r['bbox'] for r in sure)])
        iou = bbox_overlaps(np.array([g['bbox'] for g in gts]), boxes.reshape(-1, 4))
        same_class = np.array([[g['bbox_label'] == r['category_id'] for r in sure] for g in gts])
        found = int(((iou >= 0.5) & same_class.reshape(iou.shape)).any(axis=1).sum())
        # measured: the near pedestrian of 00004N and the near car of 00204D (1 of 5 and 1 of 8
        # labelled objects at score >= 0.3: a weak CPU-trained detector, docs/model_zoo.md)
        assert found >= 1, (s, found, len(gts))
