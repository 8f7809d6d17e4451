"""Salient-object-detection metrics: MAE, F-measure, S-measure and E-measure.

Conventions (those of the SOD field's evaluation code: Fan et al.'s MATLAB toolbox and the
widely used PySODMetrics), for a saliency map ``p`` in [0, 1] and a binary mask ``g`` of N
pixels:

* **MAE** = mean |p - g|.
* **F-measure** F = (1 + b2) P R / (b2 P + R) with ``b2 = beta^2 = 0.3`` (0 when P = R = 0).
  For each of the 256 thresholds t/255, t = 0..255, the map is binarised as ``p >= t/255``
  (computed on the 8-bit level ``floor(255 p + 1e-9)``; the tiny guard keeps a map read from
  an 8-bit file, k / 255, at level k); P = TP / (TP + FP) (0 when nothing is
  predicted), R = TP / |g| (0 for an empty mask). The per-image F curves are averaged over the
  dataset; **maxF** is the maximum of that mean curve, **meanF** its mean over the 256
  thresholds. **adpF** (adaptive F) binarises each map at ``min(2 mean(p), 1)`` and averages
  the per-image F over the dataset.
* **S-measure** (Fan et al., ICCV 2017), alpha = 0.5: ``S = alpha So + (1 - alpha) Sr``,
  clipped at 0; ``S = 1 - mean(p)`` when g is empty and ``mean(p)`` when g is full. So uses
  ``2 x / (x^2 + 1 + sigma + eps)`` of the foreground (p on g) and background (1 - p off g)
  values (sigma: standard deviation with N - 1; 0 for a single value); Sr splits the images at
  the mask centroid (``X = round(mean 1-based column index)`` with MATLAB rounding, half away
  from zero; the same for Y) into four blocks ``[:Y, :X]``, ``[:Y, X:]``, ``[Y:, :X]``,
  ``[Y:, X:]`` weighted by their area share, each scored with the toolbox's SSIM (N - 1 + eps
  in the variances; 1 when both numerator and denominator are 0). An empty block (centroid on
  the last row/column) contributes 0 (its weight is 0; MATLAB would give NaN).
  PySODMetrics rounds the 0-based centroid half-to-even instead, so its S differs from the
  MATLAB (and this) value when a centroid coordinate falls exactly on .5.
* **E-measure** (Fan et al., IJCAI 2018): for a binary map B, with ``phi_B = B - mean(B)``
  and ``phi_G = g - mean(g)``: ``xi = 2 phi_G phi_B / (phi_G^2 + phi_B^2 + eps)``,
  ``E = sum((1 + xi)^2 / 4) / N``; when g is empty the enhanced matrix is ``1 - B`` and when
  g is full it is ``B``. The paper's mean over the N pixels is used; the MATLAB toolbox and
  PySODMetrics divide by ``N - 1`` instead (``e_measure_denominator='toolbox'``, which gives
  E = N / (N - 1) > 1 for a perfect map). Reported: **meanE** (mean over the 256 thresholds
  of the dataset-mean E curve, the "mean E-measure" of SOD papers), **maxE** and **adpE**
  (threshold ``min(2 mean(p), 1)``; like the toolboxes, an all-zero map on an empty mask then
  marks every pixel and scores adpE = 0).

Checked against PySODMetrics 1.6.2 on random maps (with ``e_measure_denominator='toolbox'``):
MAE, the F and E curves and the adaptive values agree to rounding (the E curve up to the
8-bit guard above); S agrees exactly when PySODMetrics' centroid rounding is used.

Before scoring, each map is min-max normalised to [0, 1] when it is not constant
(``minmax_normalize=True``, as both toolboxes do with the maps read from PNG files).
"""
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement

from cldyn_mm.registry import METRICS

EPS = float(np.finfo(np.float64).eps)  # MATLAB's eps
NUM_THRESHOLDS = 256


def _as_numpy(x) -> np.ndarray:
    if isinstance(x, BaseDataElement):
        x = x.get('data', None)
    elif isinstance(x, Mapping):
        x = x.get('data', None)
    if x is None:
        raise ValueError('empty prediction / ground truth field')
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy() if x.is_floating_point() else x.cpu().numpy()
    return np.asarray(x)


def _squeeze_2d(x: np.ndarray, what: str) -> np.ndarray:
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 2:
        raise ValueError(f'{what} must be a single-channel map (H, W) or (1, H, W), got '
                         f'shape {x.shape}')
    return x


def binarize_gt(gt: np.ndarray) -> np.ndarray:
    """Boolean mask: labels {0, 1} (or bool) as they are, 0..255 masks as ``value > 127``."""
    gt = np.asarray(gt)
    if gt.dtype == bool:
        return gt
    return gt > 127 if gt.max() > 1 else gt > 0.5


def prepare_prediction(pred: np.ndarray, minmax_normalize: bool = True) -> np.ndarray:
    """float64 map in [0, 1]; min-max normalised (when not constant) or range-checked."""
    pred = np.asarray(pred, dtype=np.float64)
    if not np.isfinite(pred).all():
        raise ValueError('saliency map contains NaN or infinite values')
    lo, hi = float(pred.min()), float(pred.max())
    if minmax_normalize:
        return (pred - lo) / (hi - lo) if hi > lo else np.clip(pred, 0., 1.)
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(f'saliency map values must lie in [0, 1], found [{lo:g}, {hi:g}] '
                         '(or use minmax_normalize=True)')
    return np.clip(pred, 0., 1.)


def _f_measure(tp, pred_pos, n_fg, beta2: float):
    tp = np.asarray(tp, np.float64)
    precision = tp / np.maximum(pred_pos, 1)
    recall = tp / max(n_fg, 1)
    num = (1 + beta2) * precision * recall
    den = beta2 * precision + recall
    return np.where(num == 0, 0., num / np.where(num == 0, 1., den))


def _e_measure(tp, fp, n_fg: int, n: int, denominator: int):
    """E-measure of binary maps given by their TP / FP counts (arrays allowed)."""
    tp = np.asarray(tp, np.float64)
    fp = np.asarray(fp, np.float64)
    pred_fg = tp + fp
    if n_fg == 0:
        return (n - pred_fg) / denominator
    if n_fg == n:
        return pred_fg / denominator
    fn = n_fg - tp
    tn = n - n_fg - fp
    mp = pred_fg / n
    mg = n_fg / n
    total = np.zeros_like(tp)
    for count, a, b in ((tp, 1 - mp, 1 - mg), (fp, 1 - mp, -mg), (fn, -mp, 1 - mg), (tn, -mp, -mg)):
        xi = 2 * a * b / (a * a + b * b + EPS)
        total += count * (1 + xi)**2 / 4
    return total / denominator


def _round_half_away(v: float) -> int:
    return int(np.floor(v + 0.5)) if v >= 0 else -int(np.floor(-v + 0.5))


def _ssim_block(pred: np.ndarray, gt: np.ndarray) -> float:
    n = pred.size
    if n == 0:
        return 0.
    x, y = pred.mean(), gt.mean()
    sx = ((pred - x)**2).sum() / (n - 1 + EPS)
    sy = ((gt - y)**2).sum() / (n - 1 + EPS)
    sxy = ((pred - x) * (gt - y)).sum() / (n - 1 + EPS)
    alpha = 4 * x * y * sxy
    beta = (x * x + y * y) * (sx + sy)
    if alpha != 0:
        return float(alpha / (beta + EPS))
    return 1. if beta == 0 else 0.


def _s_object(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.
    mu = values.mean()
    sigma = values.std(ddof=1) if values.size > 1 else 0.
    return float(2 * mu / (mu * mu + 1 + sigma + EPS))


def s_measure(pred: np.ndarray, gt: np.ndarray, alpha: float = 0.5) -> float:
    """Structure measure of a map in [0, 1] against a boolean mask (see the module doc)."""
    y = gt.mean()
    if y == 0:
        return float(1 - pred.mean())
    if y == 1:
        return float(pred.mean())
    u = y
    s_obj = u * _s_object(pred[gt]) + (1 - u) * _s_object(1 - pred[~gt])
    rows, cols = gt.shape
    total = gt.sum()
    # centroid, MATLAB-style (1-based mean index, rounded half away from zero)
    x_c = _round_half_away(float((gt.sum(axis=0) * np.arange(1, cols + 1)).sum() / total))
    y_c = _round_half_away(float((gt.sum(axis=1) * np.arange(1, rows + 1)).sum() / total))
    area = rows * cols
    w1 = x_c * y_c / area
    w2 = (cols - x_c) * y_c / area
    w3 = x_c * (rows - y_c) / area
    w4 = 1 - w1 - w2 - w3
    g = gt.astype(np.float64)
    s_reg = (
        w1 * _ssim_block(pred[:y_c, :x_c], g[:y_c, :x_c]) +
        w2 * _ssim_block(pred[:y_c, x_c:], g[:y_c, x_c:]) +
        w3 * _ssim_block(pred[y_c:, :x_c], g[y_c:, :x_c]) +
        w4 * _ssim_block(pred[y_c:, x_c:], g[y_c:, x_c:]))
    return float(max(alpha * s_obj + (1 - alpha) * s_reg, 0.))


def sod_scores(pred: np.ndarray,
               gt: np.ndarray,
               beta2: float = 0.3,
               alpha: float = 0.5,
               minmax_normalize: bool = True,
               e_measure_denominator: str = 'paper') -> dict:
    """Per-image SOD scores of a saliency map against a mask (see the module docstring).

    Returns a dict with ``mae``, ``s``, ``adp_f``, ``adp_e`` (floats) and ``f_curve``,
    ``e_curve`` (256 values, index t = threshold t/255).
    """
    pred = prepare_prediction(_squeeze_2d(np.asarray(pred), 'saliency map'), minmax_normalize)
    gt = binarize_gt(_squeeze_2d(np.asarray(gt), 'ground-truth mask'))
    if pred.shape != gt.shape:
        raise ValueError(f'saliency map {pred.shape} and mask {gt.shape} differ in size')
    if e_measure_denominator not in ('paper', 'toolbox'):
        raise ValueError("e_measure_denominator must be 'paper' or 'toolbox', got "
                         f'{e_measure_denominator!r}')
    n = gt.size
    n_fg = int(gt.sum())
    denom = n if e_measure_denominator == 'paper' else n - 1 + EPS
    mae = float(np.abs(pred - gt).mean())
    # threshold curves on the 8-bit levels: positive at threshold t when level >= t
    levels = np.clip(np.floor(pred * 255 + 1e-9), 0, 255).astype(np.int64)
    fg_hist = np.bincount(levels[gt], minlength=NUM_THRESHOLDS)
    bg_hist = np.bincount(levels[~gt], minlength=NUM_THRESHOLDS)
    tp = np.cumsum(fg_hist[::-1])[::-1]
    fp = np.cumsum(bg_hist[::-1])[::-1]
    f_curve = _f_measure(tp, tp + fp, n_fg, beta2)
    e_curve = _e_measure(tp, fp, n_fg, n, denom)
    # adaptive threshold on the (non-quantised) map
    binary = pred >= min(2 * pred.mean(), 1.)
    a_tp = int((binary & gt).sum())
    a_fp = int((binary & ~gt).sum())
    adp_f = float(_f_measure(a_tp, a_tp + a_fp, n_fg, beta2))
    adp_e = float(_e_measure(a_tp, a_fp, n_fg, n, denom))
    return dict(
        mae=mae,
        s=s_measure(pred, gt, alpha),
        adp_f=adp_f,
        adp_e=adp_e,
        f_curve=f_curve,
        e_curve=e_curve)


def _get(sample, key: str):
    if isinstance(sample, BaseDataElement):
        return sample.get(key, None)
    if isinstance(sample, Mapping):
        return sample.get(key, None)
    raise TypeError(f'SODMetric: data samples must be BaseDataElement or dict, got '
                    f'{type(sample).__name__}')


def _meta(sample, key: str):
    value = _get(sample, key)
    if (value is None and isinstance(sample, Mapping)
            and isinstance(sample.get('metainfo'), Mapping)):
        value = sample['metainfo'].get(key)
    return value


@METRICS.register_module()
class SODMetric(BaseMetric):
    """Salient-object-detection metrics: MAE, maxF, meanF, adpF (beta^2 = 0.3), S (alpha 0.5),
    meanE, maxE, adpE; definitions in :mod:`cldyn_mm.evaluation.metrics.sod_metric`.

    Prediction (per data sample, at the ground truth's size; the first field found):

    * ``pred_saliency``: a map in [0, 1], ``(H, W)`` or ``(1, H, W)`` (tensor, array or
      ``PixelData``);
    * ``seg_logits`` of an mmseg segmentor: with 1 channel (a binary mmseg segmentor,
      ``out_channels=1``), mmseg's ``postprocess_result`` has already applied the sigmoid, so
      the values are used as the map (values outside [0, 1] raise); with 2 channels the
      softmax probability of channel 1 (salient) is used;
    * ``pred_sem_seg``: a hard 0/1 mask (the curves then have two distinct points).

    Ground truth: ``gt_sem_seg`` (labels 0/1 of the SOD datasets; a 0..255 mask is read as
    ``value > 127``), or ``gt_saliency``. Keys (with the default prefix ``sod``):
    ``sod/MAE``, ``sod/maxF``, ``sod/meanF``, ``sod/adpF``, ``sod/S``, ``sod/meanE``,
    ``sod/maxE``, ``sod/adpE``.

    Args:
        beta2 (float): beta^2 of the F-measure. Defaults to 0.3.
        alpha (float): S-measure balance of object and region terms. Defaults to 0.5.
        minmax_normalize (bool): Min-max normalise each map first (the toolboxes do).
            Defaults to True.
        e_measure_denominator (str): ``'paper'`` (mean over N pixels, default) or
            ``'toolbox'`` (N - 1, as the MATLAB code and PySODMetrics).
        pred_key (str, optional): Read only this prediction field.
        gt_key (str, optional): Read only this ground-truth field.
        collect_device, prefix, collect_dir: see ``mmengine.evaluator.BaseMetric``.
    """

    default_prefix: Optional[str] = 'sod'
    PRED_KEYS = ('pred_saliency', 'seg_logits', 'pred_sem_seg')
    GT_KEYS = ('gt_sem_seg', 'gt_saliency')

    def __init__(self,
                 beta2: float = 0.3,
                 alpha: float = 0.5,
                 minmax_normalize: bool = True,
                 e_measure_denominator: str = 'paper',
                 pred_key: Optional[str] = None,
                 gt_key: Optional[str] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if e_measure_denominator not in ('paper', 'toolbox'):
            raise ValueError("e_measure_denominator must be 'paper' or 'toolbox', got "
                             f'{e_measure_denominator!r}')
        self.beta2 = float(beta2)
        self.alpha = float(alpha)
        self.minmax_normalize = minmax_normalize
        self.e_measure_denominator = e_measure_denominator
        self.pred_keys = (pred_key, ) if pred_key else self.PRED_KEYS
        self.gt_keys = (gt_key, ) if gt_key else self.GT_KEYS

    def _prediction(self, sample, where: str) -> np.ndarray:
        for key in self.pred_keys:
            value = _get(sample, key)
            if value is None:
                continue
            arr = _as_numpy(value).astype(np.float64)
            if key == 'seg_logits':
                if arr.ndim == 3 and arr.shape[0] == 2:
                    e = np.exp(arr - arr.max(axis=0, keepdims=True))
                    arr = e[1] / e.sum(axis=0)
                elif arr.ndim == 3 and arr.shape[0] > 2:
                    raise ValueError(f'SODMetric: {where}: seg_logits has {arr.shape[0]} '
                                     'channels; expected 1 (sigmoid map) or 2 (background, '
                                     'salient)')
                elif arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
                    raise ValueError(f'SODMetric: {where}: 1-channel seg_logits must be the '
                                     'sigmoid map mmseg produces (values in [0, 1]); got '
                                     f'[{arr.min():g}, {arr.max():g}]')
            return _squeeze_2d(arr, f'{where}: {key}')
        raise KeyError(f'SODMetric: {where} has none of the prediction fields '
                       f'{list(self.pred_keys)}')

    def _ground_truth(self, sample, where: str) -> np.ndarray:
        for key in self.gt_keys:
            value = _get(sample, key)
            if value is not None:
                return _squeeze_2d(_as_numpy(value), f'{where}: {key}')
        raise KeyError(f'SODMetric: {where} has none of the ground-truth fields '
                       f'{list(self.gt_keys)}')

    def process(self, data_batch, data_samples: Sequence) -> None:
        for i, sample in enumerate(data_samples):
            where = f"data sample {i} ({_meta(sample, 'img_path') or 'no img_path'})"
            pred = self._prediction(sample, where)
            gt = self._ground_truth(sample, where)
            if pred.shape != gt.shape:
                raise ValueError(f'SODMetric: {where}: prediction {pred.shape} and ground '
                                 f'truth {gt.shape} differ in size (predictions must be at '
                                 'the original image size)')
            scores = sod_scores(pred, gt, self.beta2, self.alpha, self.minmax_normalize,
                                self.e_measure_denominator)
            self.results.append(scores)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        if not results:
            raise ValueError('SODMetric: no results to evaluate')
        f_curve = np.mean([r['f_curve'] for r in results], axis=0)
        e_curve = np.mean([r['e_curve'] for r in results], axis=0)
        return dict(
            MAE=float(np.mean([r['mae'] for r in results])),
            maxF=float(f_curve.max()),
            meanF=float(f_curve.mean()),
            adpF=float(np.mean([r['adp_f'] for r in results])),
            S=float(np.mean([r['s'] for r in results])),
            meanE=float(e_curve.mean()),
            maxE=float(e_curve.max()),
            adpE=float(np.mean([r['adp_e'] for r in results])),
        )
