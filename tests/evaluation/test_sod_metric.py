"""SODMetric against values computed by hand on 4x4 masks, and its known properties.

The module is imported here, which registers ``SODMetric`` in cldyn_mm's METRICS even while
``cldyn_mm.evaluation.metrics`` does not import it yet.
"""
import math

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from cldyn_mm.evaluation.metrics.sod_metric import SODMetric, sod_scores
from cldyn_mm.registry import METRICS

B2 = 0.3

# the hand example: 2x2 object in the top-left corner of a 4x4 image; the prediction
# misses half of one object pixel and puts 0.5 on one background pixel
GT = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], np.uint8)
PRED = np.array([[1, 1, 0, 0], [1, .5, 0, 0], [0, 0, .5, 0], [0, 0, 0, 0]], np.float64)


def _f(p, r):
    return (1 + B2) * p * r / (B2 * p + r)


def _phi(a, b):
    """Enhanced alignment value of one pixel with demeaned values a (map) and b (mask)."""
    xi = 2 * a * b / (a * a + b * b)
    return (1 + xi)**2 / 4


# --- the expected numbers, by hand -------------------------------------------------------
# MAE: two pixels off by 0.5
MAE = 1 / 16
# F: 8-bit levels are 255 (three object pixels), 127 (the two 0.5 pixels), 0 (the rest).
#   t = 0:        all 16 positive: P = 4/16, R = 1
#   t = 1..127:   5 positive (4 object + 1 background): P = 4/5, R = 1
#   t = 128..255: 3 positive, all object: P = 1, R = 3/4
F_T0, F_LOW, F_HIGH = _f(4 / 16, 1), _f(4 / 5, 1), _f(1, 3 / 4)
F_CURVE = np.array([F_T0] + [F_LOW] * 127 + [F_HIGH] * 128)
# adaptive threshold min(2 * mean, 1) = 2 * 4/16 = 0.5: the 5 pixels >= 0.5
ADP_F = F_LOW
# E (mask mean 4/16):
#   t = 0:   the map is all ones (demeaned 0): every pixel has xi = 0, phi = 1/4
E_T0 = 0.25
#   t = 1..127: map mean 5/16; 4 TP, 1 FP, 11 TN pixels
E_LOW = (4 * _phi(11 / 16, 12 / 16) + 1 * _phi(11 / 16, -4 / 16) + 11 * _phi(-5 / 16, -4 / 16)) / 16
#   t = 128..255: map mean 3/16; 3 TP, 1 FN, 12 TN pixels
E_HIGH = (3 * _phi(13 / 16, 12 / 16) + 1 * _phi(-3 / 16, 12 / 16) +
          12 * _phi(-3 / 16, -4 / 16)) / 16
E_CURVE = np.array([E_T0] + [E_LOW] * 127 + [E_HIGH] * 128)
ADP_E = E_LOW
# S: object term. Object values 1, 1, 1, .5: mean .875, sample std sqrt(.1875 / 3) = .25.
#    Background values of 1 - p: eleven 1 and one .5: mean 11.5/12, sample std
#    sqrt(((11 * (1/24)^2 + (11/24)^2) / 11) = sqrt(1/48).
O_FG = 2 * .875 / (.875**2 + 1 + .25)
MU_BG = 11.5 / 12
O_BG = 2 * MU_BG / (MU_BG**2 + 1 + math.sqrt(1 / 48))
S_OBJECT = 4 / 16 * O_FG + 12 / 16 * O_BG
# Region term: centroid of the object, 1-based: (1.5, 1.5), rounded half away from zero to
# (2, 2), so the blocks are the four 2x2 quarters, each of weight 1/4:
#   top-left: map (1, 1, 1, .5) vs mask all ones: covariance 0, variance > 0 -> 0
#   top-right, bottom-left: map and mask all zero -> 1
#   bottom-right: map (.5, 0, 0, 0) vs mask all zero: mask mean 0 -> numerator 0 -> 0
S_REGION = (0 + 1 + 1 + 0) / 4
S = 0.5 * S_OBJECT + 0.5 * S_REGION


def test_hand_computed_scores():
    r = sod_scores(PRED, GT, minmax_normalize=False)
    assert r['mae'] == pytest.approx(MAE)
    np.testing.assert_allclose(r['f_curve'], F_CURVE, rtol=1e-12)
    np.testing.assert_allclose(r['e_curve'], E_CURVE, rtol=1e-12)
    assert r['adp_f'] == pytest.approx(ADP_F)
    assert r['adp_e'] == pytest.approx(ADP_E)
    assert r['s'] == pytest.approx(S, rel=1e-12)
    # the numbers themselves (so a wrong hand formula above would show)
    assert F_HIGH == pytest.approx(13 / 14)
    assert S == pytest.approx(0.7069709, abs=1e-6)


def test_metric_aggregates_mean_curves_over_images():
    metric = SODMetric(minmax_normalize=False)
    perfect = GT.astype(np.float32)
    samples = []
    for pred in (PRED, perfect):
        s = SegDataSample()
        s.set_data(
            dict(
                pred_saliency=PixelData(data=torch.from_numpy(pred[None]).float()),
                gt_sem_seg=PixelData(data=torch.from_numpy(GT[None].astype(np.int64)))))
        samples.append(s)
    metric.process({}, samples)
    res = metric.evaluate(2)
    # perfect map: F = 1 and E = 1 at t >= 1; at t = 0 P = 4/16 and E = 1/4
    f_perfect = np.array([_f(4 / 16, 1)] + [1.] * 255)
    e_perfect = np.array([0.25] + [1.] * 255)
    f_mean = (F_CURVE + f_perfect) / 2
    e_mean = (E_CURVE + e_perfect) / 2
    assert set(res) == {
        f'sod/{k}'
        for k in ('MAE', 'maxF', 'meanF', 'adpF', 'S', 'meanE', 'maxE', 'adpE')
    }
    assert res['sod/MAE'] == pytest.approx(MAE / 2)
    assert res['sod/maxF'] == pytest.approx(f_mean.max())
    assert res['sod/meanF'] == pytest.approx(f_mean.mean())
    assert res['sod/adpF'] == pytest.approx((ADP_F + 1) / 2)
    assert res['sod/S'] == pytest.approx((S + 1) / 2)
    assert res['sod/meanE'] == pytest.approx(e_mean.mean())
    assert res['sod/maxE'] == pytest.approx(e_mean.max())
    assert res['sod/adpE'] == pytest.approx((ADP_E + 1) / 2)


@pytest.mark.parametrize('mask', [
    GT,
    np.eye(6, dtype=np.uint8),
    np.pad(np.ones((3, 5), np.uint8), ((1, 4), (2, 0))),
    np.ones((5, 5), np.uint8),
    np.zeros((5, 5), np.uint8),
])
def test_perfect_prediction(mask):
    r = sod_scores(mask.astype(np.float64), mask * 255)
    assert r['mae'] == 0
    assert r['s'] == pytest.approx(1, abs=1e-12)
    assert r['e_curve'][1:] == pytest.approx(np.ones(255))  # every threshold but t = 0
    if mask.any():
        assert r['f_curve'][1:] == pytest.approx(np.ones(255))
        assert r['adp_f'] == pytest.approx(1)
        assert r['adp_e'] == pytest.approx(1)
    else:
        # no object: recall undefined, F = 0 by convention; the adaptive threshold
        # min(2 mean(p), 1) is 0 for an all-zero map, so every pixel counts as salient and
        # adpE is 0 (as in the MATLAB toolbox and PySODMetrics)
        assert not r['f_curve'].any()
        assert r['adp_e'] == 0


def test_e_measure_toolbox_denominator():
    r = sod_scores(GT.astype(float), GT, e_measure_denominator='toolbox')
    assert r['e_curve'].max() == pytest.approx(16 / 15)  # MATLAB / PySODMetrics: N - 1
    with pytest.raises(ValueError, match='paper'):
        SODMetric(e_measure_denominator='matlab')


def test_minmax_normalisation():
    scaled = 0.2 + 0.5 * PRED  # range [0.2, 0.7]
    a = sod_scores(scaled, GT)  # default: normalised back to PRED
    b = sod_scores(PRED, GT, minmax_normalize=False)
    for k in ('mae', 's', 'adp_f', 'adp_e'):
        assert a[k] == pytest.approx(b[k])
    c = sod_scores(scaled, GT, minmax_normalize=False)
    assert c['mae'] != pytest.approx(b['mae'])
    with pytest.raises(ValueError, match=r'\[0, 1\]'):
        sod_scores(PRED * 2, GT, minmax_normalize=False)


def test_prediction_fields_of_mmseg_segmentors():
    metric = METRICS.build(dict(type='SODMetric', minmax_normalize=False))
    gt = PixelData(data=torch.from_numpy(GT[None].astype(np.int64)))
    # binary mmseg segmentor (out_channels=1): seg_logits already holds the sigmoid map
    s1 = SegDataSample(
        seg_logits=PixelData(data=torch.from_numpy(PRED[None]).float()), gt_sem_seg=gt)
    # two-class segmentor: softmax probability of class 1
    logit = np.log(np.clip(PRED, 1e-9, 1 - 1e-9) / (1 - np.clip(PRED, 1e-9, 1 - 1e-9)))
    two = np.stack([np.zeros_like(logit), logit])
    s2 = SegDataSample(seg_logits=PixelData(data=torch.from_numpy(two).float()), gt_sem_seg=gt)
    # to_dict() form, as MMEngine's Evaluator hands samples to metrics
    s3 = s1.to_dict()
    metric.process({}, [s1, s2, s3])
    for r in metric.results:
        assert r['mae'] == pytest.approx(MAE, abs=1e-6)
        assert r['s'] == pytest.approx(S, abs=1e-6)
    # hard mask only
    metric.results.clear()
    s4 = SegDataSample(
        pred_sem_seg=PixelData(data=torch.from_numpy(GT[None].astype(np.int64))), gt_sem_seg=gt)
    metric.process({}, [s4])
    assert metric.results[0]['mae'] == 0


def test_errors_name_the_problem():
    metric = SODMetric()
    gt = PixelData(data=torch.zeros(1, 4, 4, dtype=torch.int64))
    bad_size = SegDataSample(pred_saliency=PixelData(data=torch.zeros(1, 5, 4)), gt_sem_seg=gt)
    bad_size.set_metainfo(dict(img_path='x/a.png'))
    with pytest.raises(ValueError, match='a.png.*differ in size'):
        metric.process({}, [bad_size])
    three = SegDataSample(seg_logits=PixelData(data=torch.zeros(3, 4, 4)), gt_sem_seg=gt)
    with pytest.raises(ValueError, match='3 channels'):
        metric.process({}, [three])
    raw = SegDataSample(seg_logits=PixelData(data=torch.full((1, 4, 4), 3.)), gt_sem_seg=gt)
    with pytest.raises(ValueError, match='sigmoid'):
        metric.process({}, [raw])
    with pytest.raises(KeyError, match='prediction fields'):
        metric.process({}, [SegDataSample(gt_sem_seg=gt)])
