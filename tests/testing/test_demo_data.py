"""Tests of the synthetic IR/VIS demo dataset (cldyn_mm.testing.demo_data,
tools/dataset_converters/make_demo_data.py)."""
import importlib.util
import json
import os
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest

from cldyn_mm.testing.demo_data import (DEMO_DET_CLASSES, DEMO_SEG_CLASSES, DEMO_SEG_PALETTE,
                                        generate_demo_dataset, render_demo_sample)

SIZE = (160, 128)
N_TRAIN, N_VAL = 10, 6
SEG_OF_CAT = {1: 3, 2: 4, 3: 5}  # COCO category id -> seg class id
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo') / 'data'
    meta = generate_demo_dataset(str(root), num_train=N_TRAIN, num_val=N_VAL, size=SIZE, seed=0)
    assert meta['reused'] is False
    return root


def _files(root: Path) -> dict:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob('*')) if p.is_file()
    }


def _load(root: Path, split: str):
    with open(root / 'annotations' / f'{split}.json') as f:
        return json.load(f)


def _samples(root: Path):
    """Yield (image info, ir float, vis luma float, seg, annotations) for every image."""
    for split in ('train', 'val'):
        coco = _load(root, split)
        anns = {}
        for a in coco['annotations']:
            anns.setdefault(a['image_id'], []).append(a)
        for im in coco['images']:
            ir = cv2.imread(str(root / im['ir_path']), cv2.IMREAD_UNCHANGED).astype(np.float32)
            bgr = cv2.imread(str(root / im['vi_path']), cv2.IMREAD_COLOR).astype(np.float32)
            y = 0.114 * bgr[..., 0] + 0.587 * bgr[..., 1] + 0.299 * bgr[..., 2]
            seg = cv2.imread(str(root / im['seg_path']), cv2.IMREAD_UNCHANGED)
            yield im, ir, y, seg, anns.get(im['id'], [])


def _visibility(img, inside, ring):
    """How much a region stands out from its surroundings, beyond the clutter there:
    mean |pixel - m| inside minus mean |pixel - m| over the ring, m = mean of the ring."""
    m = img[ring].mean()
    return float(np.abs(img[inside] - m).mean() - np.abs(img[ring] - m).mean())


def test_layout_counts_and_meta(demo_root):
    w, h = SIZE
    stems = {}
    for split, n in (('train', N_TRAIN), ('val', N_VAL)):
        stems[split] = (demo_root / 'splits' / f'{split}.txt').read_text().split()
        assert len(stems[split]) == n
        assert sum(s.endswith('N') for s in stems[split]) == n // 2  # balanced day / night
        for s in stems[split]:
            assert s.startswith('demo_') and s[-1] in 'DN' and len(s) == len('demo_00000D')
    assert set(stems['train']).isdisjoint(stems['val'])
    all_stems = stems['train'] + stems['val']
    for d in ('ir', 'vi', 'Segmentation_labels', 'saliency'):
        assert sorted(os.listdir(demo_root / d)) == sorted(s + '.png' for s in all_stems)
    for s in all_stems:
        ir = cv2.imread(str(demo_root / 'ir' / f'{s}.png'), cv2.IMREAD_UNCHANGED)
        vi = cv2.imread(str(demo_root / 'vi' / f'{s}.png'), cv2.IMREAD_UNCHANGED)
        seg = cv2.imread(str(demo_root / 'Segmentation_labels' / f'{s}.png'), cv2.IMREAD_UNCHANGED)
        sal = cv2.imread(str(demo_root / 'saliency' / f'{s}.png'), cv2.IMREAD_UNCHANGED)
        assert ir.shape == (h, w) and ir.dtype == np.uint8
        assert vi.shape == (h, w, 3) and vi.dtype == np.uint8
        assert not np.array_equal(vi[..., 0], vi[..., 2])  # colour, not grey
        assert seg.shape == (h, w) and seg.dtype == np.uint8 and seg.max() < len(DEMO_SEG_CLASSES)
        assert set(np.unique(sal)) <= {0, 255}
        np.testing.assert_array_equal(sal == 255, np.isin(seg, (3, 4, 5)))
        assert (seg == 1).any() and (seg == 2).any()  # every scene has road and markings

    meta = json.loads((demo_root / 'meta.json').read_text())
    assert meta['seed'] == 0 and meta['size'] == [w, h]
    assert meta['num_train'] == N_TRAIN and meta['num_val'] == N_VAL
    assert meta['det_classes'] == list(DEMO_DET_CLASSES) == ['person', 'car', 'sign']
    assert meta['seg_classes'] == list(DEMO_SEG_CLASSES)
    assert len(meta['seg_palette']) == len(DEMO_SEG_PALETTE) == len(DEMO_SEG_CLASSES)
    assert meta['counts']['train']['night'] == N_TRAIN // 2
    for split in ('train', 'val'):
        coco = _load(demo_root, split)
        assert [c['id'] for c in coco['categories']] == [1, 2, 3]
        assert [c['name'] for c in coco['categories']] == list(DEMO_DET_CLASSES)
        assert [im['file_name'] for im in coco['images']] == [s + '.png' for s in stems[split]]
        for im in coco['images']:
            assert (im['width'], im['height']) == (w, h)
            assert im['ir_path'] == 'ir/' + im['file_name']
            assert im['vi_path'] == 'vi/' + im['file_name']
            assert im['is_night'] == im['file_name'].endswith('N.png')
        n_boxes = {c: 0 for c in DEMO_DET_CLASSES}
        for a in coco['annotations']:
            n_boxes[DEMO_DET_CLASSES[a['category_id'] - 1]] += 1
        assert n_boxes == meta['counts'][split]['boxes']
    # enough objects to train on, of every class
    assert all(v >= 3 for v in meta['counts']['train']['boxes'].values())


def test_boxes_in_bounds_and_consistent_with_masks(demo_root):
    w, h = SIZE
    for split in ('train', 'val'):
        coco = _load(demo_root, split)
        ids = [a['id'] for a in coco['annotations']]
        assert len(ids) == len(set(ids))
        image_ids = {im['id'] for im in coco['images']}
        assert all(a['image_id'] in image_ids for a in coco['annotations'])
    n = 0
    for im, _, _, seg, anns in _samples(demo_root):
        for a in anns:
            n += 1
            x, y, bw, bh = a['bbox']
            assert all(float(v).is_integer() for v in a['bbox'])
            x, y, bw, bh = int(x), int(y), int(bw), int(bh)
            assert x >= 0 and y >= 0 and bw >= 3 and bh >= 3 and x + bw <= w and y + bh <= h
            assert a['iscrowd'] == 0 and 0 < a['area'] <= bw * bh
            cls = (seg[y:y + bh, x:x + bw] == SEG_OF_CAT[a['category_id']])
            # the box is the tight box of visible pixels of its class ...
            assert cls.sum() >= a['area']
            assert cls[0].any() and cls[-1].any() and cls[:, 0].any() and cls[:, -1].any()
    assert n > 0


def test_deterministic_and_seed_dependent(demo_root, tmp_path):
    again = tmp_path / 'again'
    generate_demo_dataset(str(again), num_train=N_TRAIN, num_val=N_VAL, size=SIZE, seed=0)
    a, b = _files(demo_root), _files(again)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == b[k], f'{k} differs between two generations with the same seed'
    other = render_demo_sample(0, seed=1, size=SIZE, night=False)
    same = render_demo_sample(0, seed=0, size=SIZE, night=False)
    stem = (demo_root / 'splits' / 'train.txt').read_text().split()[0]
    vis0 = cv2.imread(str(demo_root / 'vi' / f'{stem}.png'))[..., ::-1]
    if stem.endswith('D'):
        np.testing.assert_array_equal(same['vis'], vis0)
    assert not np.array_equal(other['vis'], same['vis'])
    assert not np.array_equal(other['ir'], same['ir'])


def test_fusion_matters_contrast(demo_root):
    """Night warm objects are near invisible in VIS but stand out in IR; signs and markings show
    in VIS only. Visibility (grey levels, IR and VIS luma) is measured against a 3 px ring of
    background/road pixels around each object (no markings, no other objects); for markings
    against road pixels up to 4 px left/right of them, so that the road's vertical temperature
    gradient does not count."""
    k = np.ones((7, 7), np.uint8)
    stats = {}

    def add(key, img, inside, ring):
        if inside.sum() >= 8 and ring.sum() >= 8:
            stats.setdefault(key, []).append(_visibility(img, inside, ring))

    for im, ir, y, seg, anns in _samples(demo_root):
        cond = 'night' if im['is_night'] else 'day'
        for a in anns:
            x0, y0, bw, bh = (int(v) for v in a['bbox'])
            obj = np.zeros(seg.shape, np.uint8)
            box = seg[y0:y0 + bh, x0:x0 + bw]
            obj[y0:y0 + bh, x0:x0 + bw] = box == SEG_OF_CAT[a['category_id']]
            ring = (cv2.dilate(obj, k) > 0) & (obj == 0) & (seg < 2)
            kind = 'sign' if a['category_id'] == 3 else 'warm'
            add((kind, cond, 'ir'), ir, obj > 0, ring)
            add((kind, cond, 'vis'), y, obj > 0, ring)
        mark = cv2.erode((seg == 2).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        road = (cv2.dilate((seg == 2).astype(np.uint8), np.ones((1, 9), np.uint8)) > 0) & (seg == 1)
        add(('mark', cond, 'ir'), ir, mark, road)
        add(('mark', cond, 'vis'), y, mark, road)
    m = {key: float(np.mean(v)) for key, v in stats.items()}
    # warm objects: stand out in IR by day and night; in VIS by day but not at night
    assert m[('warm', 'night', 'ir')] > 25 and m[('warm', 'day', 'ir')] > 25, m
    assert m[('warm', 'night', 'vis')] < min(5, 0.2 * m[('warm', 'night', 'ir')]), m
    assert m[('warm', 'day', 'vis')] > m[('warm', 'night', 'vis')] + 10, m
    # cold structures: visible in VIS, nothing in IR
    for kind in ('sign', 'mark'):
        for cond in ('day', 'night'):
            assert m[(kind, cond, 'vis')] > 6, (kind, cond, m)
            assert m[(kind, cond, 'ir')] < 3, (kind, cond, m)


def test_refuses_foreign_folder(tmp_path):
    foreign = tmp_path / 'mine'
    foreign.mkdir()
    (foreign / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='mine'):
        generate_demo_dataset(str(foreign), num_train=2, num_val=1, size=(64, 64))
    assert sorted(os.listdir(foreign)) == ['notes.txt']
    meta = generate_demo_dataset(
        str(foreign), num_train=2, num_val=1, size=(64, 64), overwrite=True)
    assert meta['reused'] is False
    assert (foreign / 'notes.txt').read_text() == 'keep me'  # overwrite deletes nothing foreign
    assert (foreign / 'meta.json').is_file()
    a_file = tmp_path / 'file'
    a_file.write_text('x')
    with pytest.raises(FileExistsError, match='not a folder'):
        generate_demo_dataset(str(a_file), num_train=1, num_val=1, size=(64, 64))


def test_idempotent_and_regenerates_on_new_parameters(tmp_path):
    root = tmp_path / 'demo'
    generate_demo_dataset(str(root), num_train=3, num_val=2, size=(64, 64), seed=5)
    before = {p: os.stat(p).st_mtime_ns for p in root.rglob('*') if p.is_file()}
    meta = generate_demo_dataset(str(root), num_train=3, num_val=2, size=(64, 64), seed=5)
    assert meta['reused'] is True and meta['seed'] == 5
    assert {p: os.stat(p).st_mtime_ns for p in root.rglob('*') if p.is_file()} == before
    # an incomplete dataset (a file lost) is regenerated, not reused
    victim = next((root / 'ir').iterdir())
    victim.unlink()
    assert generate_demo_dataset(
        str(root), num_train=3, num_val=2, size=(64, 64), seed=5)['reused'] is False
    assert victim.is_file()
    # other parameters on an existing demo folder: regenerated without --overwrite, and stale
    # images of the old run are removed
    meta = generate_demo_dataset(str(root), num_train=2, num_val=1, size=(64, 64), seed=5)
    assert meta['reused'] is False
    assert len(os.listdir(root / 'vi')) == 3
    assert json.loads((root / 'meta.json').read_text())['num_train'] == 2


def test_other_sizes_and_bad_arguments():
    for size in ((64, 64), (97, 203), (400, 90)):
        s = render_demo_sample(3, seed=2, size=size)
        w, h = size
        assert s['ir'].shape == (h, w) and s['vis'].shape == (h, w, 3)
        assert s['seg'].shape == (h, w) and s['sal'].shape == (h, w)
        for b in s['boxes']:
            x, y, bw, bh = b['bbox']
            assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h
    with pytest.raises(ValueError, match='>= 64'):
        render_demo_sample(0, size=(63, 100))
    with pytest.raises(ValueError, match='num_train'):
        generate_demo_dataset('unused_dir_never_created', num_train=0)
    assert not osp.exists('unused_dir_never_created')


def test_cli(tmp_path, capsys):
    tool = REPO / 'tools' / 'dataset_converters' / 'make_demo_data.py'
    spec = importlib.util.spec_from_file_location('make_demo_data', tool)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    out = tmp_path / 'cli'
    sheet = tmp_path / 'sheet.png'
    assert cli.main([
        '--out',
        str(out), '--num-train', '2', '--num-val', '2', '--size', '64', '64', '--seed', '1',
        '--preview',
        str(sheet)
    ]) == 0
    text = capsys.readouterr().out
    assert 'wrote demo data' in text and 'train: 2 pairs' in text
    assert cv2.imread(str(sheet)).shape == (2 * 64, 4 * 64, 3)  # 1 day + 1 night row
    assert cli.main([
        '--out',
        str(out), '--num-train', '2', '--num-val', '2', '--size', '64', '64', '--seed', '1'
    ]) == 0
    assert 'already complete' in capsys.readouterr().out
    foreign = tmp_path / 'foreign'
    foreign.mkdir()
    (foreign / 'x').write_text('x')
    assert cli.main(
        ['--out', str(foreign), '--num-train', '1', '--num-val', '1', '--size', '64', '64']) == 2
    assert 'refusing' in capsys.readouterr().err
