"""FusionQualityMetric: registry build, data-sample contract, means, errors."""
import copy
import math
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from fusion_eval_helpers import real_pairs
from mmengine.structures import BaseDataElement

from cldyn_mm.evaluation import FusionQualityMetric
from cldyn_mm.evaluation.functional import (FUSION_METRIC_NAMES, compute_fusion_metrics, load_grey,
                                            rgb_float_to_grey)
from cldyn_mm.registry import METRICS


def _write_pair(folder, stem, h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = (np.sin(xx / 5.0 + seed) * 60 + np.cos(yy / 7.0) * 50 + 128)
    ir = np.clip(base + rng.normal(0, 10, (h, w)), 0, 255).astype(np.uint8)
    vi = np.clip(
        np.stack([base * 0.8, 255 - base, base], -1) + rng.normal(0, 5, (h, w, 3)), 0,
        255).astype(np.uint8)
    ir_path, vi_path = folder / f'{stem}_ir.png', folder / f'{stem}_vi.png'
    cv2.imwrite(str(ir_path), ir)
    cv2.imwrite(str(vi_path), vi)
    return str(ir_path), str(vi_path)


def _fused(seed, h, w):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(3, h, w, generator=g)


@pytest.fixture
def fake_samples(tmp_path):
    """Three samples, two sizes; as BaseDataElement, to_dict()-ed dict and nested-metainfo dict."""
    p1 = _write_pair(tmp_path, 'a', 48, 64, 0)
    p2 = _write_pair(tmp_path, 'b', 48, 64, 1)
    p3 = _write_pair(tmp_path, 'c', 56, 50, 2)
    s1 = BaseDataElement(pred_fused=_fused(0, 48, 64), metainfo=dict(ir_path=p1[0], vi_path=p1[1]))
    s2 = BaseDataElement(pred_fused=_fused(1, 48, 64), metainfo=dict(ir_path=p2[0], vi_path=p2[1]))
    s3 = dict(pred_fused=_fused(2, 56, 50), metainfo=dict(ir_path=p3[0], vi_path=p3[1]))
    return [s1, s2.to_dict(), s3], [p1, p2, p3]


def _expected(samples, paths, names):
    per = []
    for s, (ir, vi) in zip(samples, paths):
        fused = s.pred_fused if isinstance(s, BaseDataElement) else s['pred_fused']
        A, B, F = load_grey(ir), load_grey(vi), rgb_float_to_grey(fused)
        vals = compute_fusion_metrics(
            torch.from_numpy(A), torch.from_numpy(B), torch.from_numpy(F), names)
        per.append({k: float(v) for k, v in vals.items()})
    return {k: float(np.mean([p[k] for p in per])) for k in names}


def test_built_from_registry_reports_prefixed_means(fake_samples):
    samples, paths = fake_samples
    metric = METRICS.build(dict(type='FusionQualityMetric'))
    assert isinstance(metric, FusionQualityMetric)
    assert metric.metric_names == FUSION_METRIC_NAMES
    metric.process({}, samples[:2])
    metric.process({}, samples[2:])
    result = metric.evaluate(3)
    assert sorted(result) == sorted(f'fusion/{k}' for k in FUSION_METRIC_NAMES)
    want = _expected(samples, paths, FUSION_METRIC_NAMES)
    for k in FUSION_METRIC_NAMES:
        assert result[f'fusion/{k}'] == pytest.approx(want[k], rel=1e-12), k


def test_single_metric_name_as_a_string(fake_samples):
    samples, _ = fake_samples
    metric = METRICS.build(dict(type='FusionQualityMetric', metric='qabf'))
    assert metric.metric_names == ('Qabf', )
    metric.process({}, samples)
    assert list(metric.evaluate(3)) == ['fusion/Qabf']


def test_built_through_the_runner_evaluator_path(fake_samples):
    """The config goes through MMEngine's Runner.build_evaluator (as tools/test.py does) and
    becomes an Evaluator holding one FusionQualityMetric: no 'metrics' key that would make
    MMEngine read the dict as an Evaluator config."""
    from mmengine.evaluator import Evaluator
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner

    samples, paths = fake_samples
    cfg = dict(type='FusionQualityMetric', metric=['EN', 'ssim'])
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        # build_evaluator does not use the runner instance (mmengine 0.10)
        evaluator = Runner.build_evaluator(None, copy.deepcopy(cfg))
        scoped = Evaluator(dict(type='cldyn_mm.FusionQualityMetric', metric=['EN']))
        built = METRICS.build(copy.deepcopy(cfg))
    assert isinstance(evaluator, Evaluator) and len(evaluator.metrics) == 1
    assert isinstance(evaluator.metrics[0], FusionQualityMetric)
    assert evaluator.metrics[0].metric_names == ('EN', 'SSIM')
    assert scoped.metrics[0].metric_names == ('EN', )
    assert built.metric_names == ('EN', 'SSIM')
    evaluator.process(samples)
    result = evaluator.evaluate(3)
    want = _expected(samples, paths, ('EN', 'SSIM'))
    assert result == pytest.approx({
        'fusion/EN': want['EN'],
        'fusion/SSIM': want['SSIM']
    },
                                   rel=1e-12)


def test_old_metrics_key_gives_a_clear_error():
    """``metrics=`` sends the dict to MMEngine's EVALUATOR registry; the error says why."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        with pytest.raises(TypeError, match="'metric' \\(singular\\), not 'metrics'"):
            Runner.build_evaluator(None, dict(type='FusionQualityMetric', metrics=['EN']))
    with pytest.raises(TypeError):
        FusionQualityMetric(metrics=['EN'])


def test_documented_configs_use_metric_not_metrics():
    """The evaluator configs shown in docs/metrics.md build as they are written."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import Runner
    doc = (Path(__file__).resolve().parents[2] / 'docs' / 'metrics.md').read_text()
    block = re.search(r'## In a config\n\n```python\n(.*?)```', doc, re.S).group(1)
    cfg = Config.fromstring(block.replace("device='cuda'", "device='cpu'"), '.py')
    for key in ('val_evaluator', 'test_evaluator'):
        assert 'metrics' not in cfg[key], key
        with DefaultScope.overwrite_default_scope('cldyn_mm'):
            evaluator = Runner.build_evaluator(None, cfg[key].to_dict())
        assert isinstance(evaluator.metrics[0], FusionQualityMetric), key


def test_metric_subset_and_prefix(fake_samples):
    samples, paths = fake_samples
    metric = FusionQualityMetric(metric=['en', 'Qabf', 'MI'], prefix='val')
    metric.process({}, samples)
    result = metric.evaluate(3)
    assert list(result) == ['val/EN', 'val/Qabf', 'val/MI']
    want = _expected(samples, paths, ('EN', 'Qabf', 'MI'))
    assert result['val/MI'] == pytest.approx(want['MI'], rel=1e-12)


def test_bad_metric_names_raise_listing_valid_names():
    with pytest.raises(ValueError, match='valid names are EN, SD'):
        FusionQualityMetric(metric=('EN', 'Nabf'))


def test_size_mismatch_names_the_files(tmp_path):
    ir, vi = _write_pair(tmp_path, 'a', 48, 64, 0)
    sample = BaseDataElement(pred_fused=_fused(0, 40, 64), metainfo=dict(ir_path=ir, vi_path=vi))
    metric = FusionQualityMetric(metric=['EN'])
    with pytest.raises(ValueError, match='a_ir.png.*a_vi.png.*pred_fused'):
        metric.process({}, [sample])


def test_missing_fields_are_reported(tmp_path):
    ir, vi = _write_pair(tmp_path, 'a', 48, 64, 0)
    metric = FusionQualityMetric(metric=['EN'])
    with pytest.raises(KeyError, match="no 'pred_fused'"):
        metric.process({}, [BaseDataElement(metainfo=dict(ir_path=ir, vi_path=vi))])
    with pytest.raises(KeyError, match="no 'vi_path'"):
        metric.process({}, [dict(pred_fused=_fused(0, 48, 64), ir_path=ir)])
    with pytest.raises(TypeError, match='BaseDataElement or a dict'):
        metric.process({}, [_fused(0, 48, 64)])


def test_nan_values_propagate_with_a_warning(tmp_path):
    ir, vi = _write_pair(tmp_path, 'a', 48, 64, 0)
    flat = torch.full((3, 48, 64), 0.5)  # a constant fused image: CC is NaN
    metric = FusionQualityMetric(metric=['CC', 'EN'])
    metric.process({}, [dict(pred_fused=flat, ir_path=ir, vi_path=vi)])
    with pytest.warns(UserWarning, match='CC is NaN for 1 of 1'):
        result = metric.evaluate(1)
    assert math.isnan(result['fusion/CC'])
    assert result['fusion/EN'] == 0.0


def test_visible_image_as_prediction_on_a_real_pair(shared_data):
    """pred_fused = the visible RGB file itself: F equals B exactly, so SSIM(F,B) = 1 and the
    MSE is half the IR-VIS MSE."""
    _, ir, vi, A, B = real_pairs(shared_data, 'MSRS')[0]
    rgb = cv2.imread(str(vi))[..., ::-1].astype(np.float32) / 255.0
    sample = dict(
        pred_fused=torch.from_numpy(rgb.copy()).permute(2, 0, 1), ir_path=str(ir), vi_path=str(vi))
    metric = FusionQualityMetric(metric=['MSE', 'SSIM', 'CC'])
    metric.process({}, [sample])
    result = metric.evaluate(1)
    assert result['fusion/MSE'] == pytest.approx(float(np.mean((A - B)**2)) / 2, rel=1e-12)
    ssim_ab = compute_fusion_metrics(
        torch.from_numpy(B), torch.from_numpy(B), torch.from_numpy(A), ['SSIM'])['SSIM'] / 2
    assert result['fusion/SSIM'] == pytest.approx(1 + float(ssim_ab), rel=1e-12)


def test_fused_key_scores_another_field(fake_samples):
    """fused_key='fused_img': the image a fused task wrapper handed to its task network."""
    samples, paths = fake_samples
    renamed = [
        BaseDataElement(fused_img=s.pred_fused, metainfo=s.metainfo) for s in samples
        if isinstance(s, BaseDataElement)
    ]
    metric = METRICS.build(
        dict(type='FusionQualityMetric', metric=['EN', 'SSIM'], fused_key='fused_img'))
    metric.process({}, renamed)
    result = metric.evaluate(len(renamed))
    want = _expected(samples[:1], paths[:1], ['EN', 'SSIM'])
    assert result['fusion/EN'] == pytest.approx(want['EN'], rel=1e-12)
    with pytest.raises(Exception, match='fused_img'):
        METRICS.build(dict(type='FusionQualityMetric', fused_key='fused_img')).process({},
                                                                                       samples[:1])
