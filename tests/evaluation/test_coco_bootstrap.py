"""Bootstrap mAP: the per-image re-accumulation reproduces pycocotools on the full sample, image
draws act as image weights, and paired intervals are paired."""
import numpy as np
import pytest

from cldyn_mm.evaluation.functional.coco_bootstrap import CocoImageEvaluation, bootstrap_map

pytest.importorskip('pycocotools')


def make_gt(num_images=12, seed=0):
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for i in range(num_images):
        images.append(dict(id=i + 1, width=320, height=240, file_name=f'{i}.png'))
        for _ in range(rng.integers(0, 5)):
            w, h = rng.uniform(8, 90, 2)
            x, y = rng.uniform(0, 320 - w), rng.uniform(0, 240 - h)
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=i + 1,
                    category_id=int(rng.integers(1, 4)),
                    bbox=[x, y, w, h],
                    area=w * h,
                    iscrowd=0))
    cats = [dict(id=c, name=n) for c, n in ((1, 'person'), (2, 'bicycle'), (3, 'car'))]
    return dict(images=images, annotations=anns, categories=cats)


def make_dets(gt, jitter, miss, false_pos, seed):
    """Noisy copies of the ground truth boxes, some missed, plus false positives."""
    rng = np.random.default_rng(seed)
    dets = []
    for a in gt['annotations']:
        if rng.uniform() < miss:
            continue
        x, y, w, h = a['bbox']
        dets.append(
            dict(
                image_id=a['image_id'],
                category_id=a['category_id'],
                bbox=[
                    x + rng.normal(0, jitter * w), y + rng.normal(0, jitter * h),
                    w * rng.uniform(0.85, 1.15), h * rng.uniform(0.85, 1.15)
                ],
                score=float(rng.uniform(0.3, 1.0))))
    for im in gt['images']:
        for _ in range(rng.integers(0, false_pos + 1)):
            dets.append(
                dict(
                    image_id=im['id'],
                    category_id=int(rng.integers(1, 4)),
                    bbox=list(rng.uniform(0, 100, 2)) + list(rng.uniform(5, 60, 2)),
                    score=float(rng.uniform(0.0, 0.8))))
    return dets


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_full_sample_equals_pycocotools(seed):
    gt = make_gt(seed=seed)
    ev = CocoImageEvaluation(gt, make_dets(gt, 0.08, 0.2, 3, seed))
    ours, ref = ev.map_of(), ev.summarize_full()
    assert ours['mAP'] == pytest.approx(ref['mAP'], abs=1e-12)
    assert ours['mAP_50'] == pytest.approx(ref['mAP_50'], abs=1e-12)
    assert 0.05 < ours['mAP'] < ours['mAP_50'] < 1.0  # a non-trivial case


def test_drawing_an_image_twice_equals_a_dataset_with_its_copy():
    gt = make_gt(num_images=6, seed=3)
    dets = make_dets(gt, 0.1, 0.3, 2, 3)
    ev = CocoImageEvaluation(gt, dets)
    # the same image set with image 1 duplicated under a new id, evaluated by pycocotools
    dup = dict(
        gt,
        images=gt['images'] + [dict(gt['images'][0], id=100)],
        annotations=gt['annotations'] +
        [dict(a, id=1000 + a['id'], image_id=100) for a in gt['annotations'] if a['image_id'] == 1])
    dup_dets = dets + [dict(d, image_id=100) for d in dets if d['image_id'] == 1]
    ref = CocoImageEvaluation(dup, dup_dets).summarize_full()
    ours = ev.map_of(np.array([0, 0, 1, 2, 3, 4, 5]))
    assert ours['mAP'] == pytest.approx(ref['mAP'], abs=1e-12)
    assert ours['mAP_50'] == pytest.approx(ref['mAP_50'], abs=1e-12)


def test_no_detections_scores_zero():
    gt = make_gt(seed=4)
    assert CocoImageEvaluation(gt, []).map_of() == dict(mAP=0.0, mAP_50=0.0)


def test_paired_interval_is_narrower_and_detects_a_consistent_gain():
    gt = make_gt(num_images=40, seed=5)
    good = CocoImageEvaluation(gt, make_dets(gt, 0.05, 0.15, 2, 5))
    # the same detections with extra misses: worse on every image, by little
    worse_dets = [d for i, d in enumerate(make_dets(gt, 0.05, 0.15, 2, 5)) if i % 6]
    worse = CocoImageEvaluation(gt, worse_dets)
    boot = bootstrap_map(dict(good=good, worse=worse), num_samples=300, seed=0)
    assert boot.full['good']['mAP'] == pytest.approx(good.summarize_full()['mAP'], abs=1e-12)
    lo, hi = boot.interval('good')
    assert lo < boot.full['good']['mAP'] < hi
    d_lo, d_hi = boot.difference_interval('good', 'worse')
    assert 0 < d_lo <= boot.difference('good', 'worse') <= d_hi
    w_lo, w_hi = boot.interval('worse')
    assert d_hi - d_lo < min(hi - lo, w_hi - w_lo)  # pairing removes the image-choice noise
    # reproducible with the seed
    again = bootstrap_map(dict(good=good, worse=worse), num_samples=300, seed=0)
    assert again.difference_interval('good', 'worse') == (d_lo, d_hi)


def test_different_image_sets_are_refused():
    a = CocoImageEvaluation(make_gt(num_images=5, seed=6), [])
    b = CocoImageEvaluation(make_gt(num_images=6, seed=6), [])
    with pytest.raises(ValueError, match='different images'):
        bootstrap_map(dict(a=a, b=b), num_samples=10)


def test_draws_without_ground_truth_are_left_out_not_counted_as_minus_one():
    # ground truth on one image of ten: about a third of the draws have none (mAP undefined,
    # pycocotools' -1), which must not drag the interval below 0
    gt = make_gt(num_images=10, seed=7)
    gt['annotations'] = [a for a in gt['annotations'] if a['image_id'] == 1][:2] or [
        dict(id=1, image_id=1, category_id=1, bbox=[10, 10, 40, 60], area=2400, iscrowd=0)
    ]
    ev = CocoImageEvaluation(gt, make_dets(gt, 0.05, 0.0, 1, 7))
    boot = bootstrap_map(dict(a=ev), num_samples=200, seed=0)
    assert np.isnan(boot.samples['a']['mAP']).any()
    lo, hi = boot.interval('a')
    assert 0.0 <= lo <= hi <= 1.0
