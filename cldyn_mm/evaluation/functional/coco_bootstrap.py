"""Bootstrap confidence intervals of COCO box mAP over the evaluation images.

A detector's mAP on 50 images moves by a box or two per class; the interval says how much of a
difference between two inputs (e.g. CLDyN - VFN fusion, same frozen detector) is more than
the choice of images. The resampling unit is the image: a bootstrap sample draws the
evaluation images with replacement (an image drawn twice counts its boxes twice) and
recomputes mAP@[.5:.95] and mAP@.5 from the per-image matches. The matching is pycocotools'
``COCOeval.evaluate`` run once on all images with mmdet ``CocoMetric``'s parameters (max
detections 100/300/1000, the mAP read at the largest); the accumulation is pycocotools'
``accumulate`` restricted to the area range 'all', re-done for each sample, so the full
sample reproduces ``COCOeval.summarize``'s ``stats[0]`` and ``stats[1]`` exactly.

Paired intervals (the difference of two inputs on the same images) use the same image draws
for both, which is what makes them much narrower than the two separate intervals.

    ev_a = CocoImageEvaluation.from_files('W/eval/vfn/coco.gt.json', 'W/eval/vfn/coco.bbox.json')
    ev_b = CocoImageEvaluation.from_files(..., 'W/eval/cldyn/coco.bbox.json')
    boot = bootstrap_map({'vfn': ev_a, 'cldyn': ev_b}, num_samples=1000, seed=0)
    boot.interval('cldyn'), boot.difference_interval('cldyn', 'vfn')
"""
import contextlib
import io
import json
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

__all__ = ['CocoImageEvaluation', 'BootstrapResult', 'bootstrap_map']

METRICS = ('mAP', 'mAP_50')


class CocoImageEvaluation:
    """Per-image COCO matches of one detector on one image set, ready to re-accumulate.

    Args:
        gt (dict): COCO ground truth (``images``, ``annotations``, ``categories``).
        dets (list[dict]): COCO results (``image_id``, ``category_id``, ``bbox`` as
            x, y, w, h, ``score``); may be empty.
        max_dets (Sequence[int]): pycocotools ``params.maxDets``; mAP uses the last, as mmdet's
            ``CocoMetric`` (default ``(100, 300, 1000)``) does.
    """

    def __init__(self, gt: dict, dets: List[dict],
                 max_dets: Sequence[int] = (100, 300, 1000)) -> None:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco_gt = COCO()
            coco_gt.dataset = gt
            coco_gt.createIndex()
            coco_dt = coco_gt.loadRes(dets) if dets else COCO()
            if not dets:
                coco_dt.dataset = dict(
                    images=gt['images'], annotations=[], categories=gt['categories'])
                coco_dt.createIndex()
            ev = COCOeval(coco_gt, coco_dt, 'bbox')
            ev.params.maxDets = list(max_dets)
            ev.evaluate()
        self.img_ids = list(ev.params.imgIds)
        self.cat_ids = list(ev.params.catIds)
        self.iou_thrs = np.asarray(ev.params.iouThrs)
        self.rec_thrs = np.asarray(ev.params.recThrs)
        self.max_det = ev.params.maxDets[-1]
        num_areas, num_imgs = len(ev.params.areaRng), len(self.img_ids)
        # evalImgs is ordered [category][area range][image]; area range 0 is 'all'
        self._per_cat = [[ev.evalImgs[k * num_areas * num_imgs + i] for i in range(num_imgs)]
                         for k in range(len(self.cat_ids))]
        self._coco_eval = ev

    @classmethod
    def from_files(cls, gt_json: str, det_json: str, **kwargs) -> 'CocoImageEvaluation':
        """From a ground-truth json and a results json (mmdet ``CocoMetric(outfile_prefix=P)``
        writes ``P.gt.json`` when it built the ground truth itself and ``P.bbox.json``)."""
        with open(gt_json) as f:
            gt = json.load(f)
        with open(det_json) as f:
            dets = json.load(f)
        return cls(gt, dets, **kwargs)

    def summarize_full(self) -> Dict[str, float]:
        """pycocotools' own accumulate + summarize on all images (mAP, mAP_50)."""
        ev = self._coco_eval
        with contextlib.redirect_stdout(io.StringIO()):
            ev.accumulate()
            ev.summarize()
        return dict(mAP=float(ev.stats[0]), mAP_50=float(ev.stats[1]))

    def map_of(self, image_indices: Optional[np.ndarray] = None) -> Dict[str, float]:
        """mAP@[.5:.95] and mAP@.5 (fractions) of the images at ``image_indices`` (positions in
        ``img_ids``, repeats allowed; default: every image once). Categories without any
        (non-ignored) ground-truth box in the sample do not count, as in pycocotools."""
        if image_indices is None:
            image_indices = np.arange(len(self.img_ids))
        num_t, num_r = len(self.iou_thrs), len(self.rec_thrs)
        precision = -np.ones((num_t, num_r, len(self.cat_ids)))
        for k, per_img in enumerate(self._per_cat):
            entries = [per_img[i] for i in image_indices if per_img[i] is not None]
            if not entries:
                continue
            scores = np.concatenate([e['dtScores'][:self.max_det] for e in entries])
            order = np.argsort(-scores, kind='mergesort')
            dtm = np.concatenate([e['dtMatches'][:, :self.max_det] for e in entries], 1)[:, order]
            dt_ig = np.concatenate([e['dtIgnore'][:, :self.max_det] for e in entries], 1)[:, order]
            gt_ig = np.concatenate([e['gtIgnore'] for e in entries])
            npig = np.count_nonzero(gt_ig == 0)
            if npig == 0:
                continue
            tps = np.logical_and(dtm, np.logical_not(dt_ig))
            fps = np.logical_and(np.logical_not(dtm), np.logical_not(dt_ig))
            tp_sum = np.cumsum(tps, axis=1).astype(float)
            fp_sum = np.cumsum(fps, axis=1).astype(float)
            for t in range(num_t):
                tp, fp = tp_sum[t], fp_sum[t]
                q = np.zeros(num_r)
                if len(tp):
                    rc = tp / npig
                    pr = tp / (fp + tp + np.spacing(1))
                    # precision envelope: running maximum from the right
                    pr = np.maximum.accumulate(pr[::-1])[::-1]
                    inds = np.searchsorted(rc, self.rec_thrs, side='left')
                    valid = inds < len(pr)
                    # thresholds beyond the reached recall keep precision 0 (pycocotools
                    # stops at the first one; inds is sorted, so those are a suffix)
                    q[valid] = pr[inds[valid]]
                precision[t, :, k] = q

        def mean(p):
            p = p[p > -1]
            return float(p.mean()) if p.size else -1.0

        return dict(mAP=mean(precision), mAP_50=mean(precision[self.iou_thrs == 0.5]))


class BootstrapResult:
    """Bootstrap samples of mAP (``samples[name][metric]``: array of ``num_samples``, NaN for a
    draw without ground truth) and the full-sample values (``full[name][metric]``), all as
    fractions."""

    def __init__(self, full: Dict[str, Dict[str, float]], samples: Dict[str, Dict[str, np.ndarray]],
                 level: float) -> None:
        self.full, self.samples, self.level = full, samples, level

    def _bounds(self, values: np.ndarray) -> Tuple[float, float]:
        """Percentile interval of the defined draws (NaN: a draw without any ground-truth
        box, whose mAP pycocotools leaves undefined); NaN when no draw is defined."""
        values = values[np.isfinite(values)]
        if not values.size:
            return float('nan'), float('nan')
        lo = (1.0 - self.level) / 2.0
        return float(np.quantile(values, lo)), float(np.quantile(values, 1.0 - lo))

    def interval(self, name: str, metric: str = 'mAP') -> Tuple[float, float]:
        """Percentile interval of ``name``'s ``metric``."""
        return self._bounds(self.samples[name][metric])

    def difference(self, a: str, b: str, metric: str = 'mAP') -> float:
        """Full-sample ``a - b``."""
        return self.full[a][metric] - self.full[b][metric]

    def difference_interval(self, a: str, b: str, metric: str = 'mAP') -> Tuple[float, float]:
        """Percentile interval of the paired difference ``a - b`` (same image draws)."""
        return self._bounds(self.samples[a][metric] - self.samples[b][metric])


def bootstrap_map(evaluations: Dict[str, CocoImageEvaluation],
                  num_samples: int = 1000,
                  seed: int = 0,
                  level: float = 0.95) -> BootstrapResult:
    """Resample the images of several evaluations on the same image set, jointly.

    Args:
        evaluations (dict): name -> :class:`CocoImageEvaluation`, all on the same images
            (same ``img_ids`` in the same order).
        num_samples (int): Bootstrap samples. Defaults to 1000.
        seed (int): Seed of the image draws. Defaults to 0.
        level (float): Coverage of the intervals. Defaults to 0.95.
    """
    if not evaluations:
        raise ValueError('bootstrap_map needs at least one evaluation')
    names = list(evaluations)
    ref = evaluations[names[0]].img_ids
    for name in names[1:]:
        if evaluations[name].img_ids != ref:
            raise ValueError(f'evaluations {names[0]!r} and {name!r} are on different images '
                             f'({len(ref)} vs {len(evaluations[name].img_ids)} ids, or another '
                             'order); a paired bootstrap needs the same image set')
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(ref), size=(num_samples, len(ref)))
    full = {n: evaluations[n].map_of() for n in names}
    samples = {n: {m: np.empty(num_samples) for m in METRICS} for n in names}
    for s, idx in enumerate(draws):
        for n in names:
            r = evaluations[n].map_of(idx)
            for m in METRICS:  # -1: no ground truth in the draw, mAP undefined
                samples[n][m][s] = r[m] if r[m] >= 0 else np.nan
    return BootstrapResult(full, samples, level)
