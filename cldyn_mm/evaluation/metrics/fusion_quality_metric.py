"""MMEngine metric reporting the fusion-quality metrics averaged over a dataset."""
import warnings
from collections.abc import Mapping
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.structures import BaseDataElement

from cldyn_mm.registry import EVALUATOR, METRICS
from ..functional.fusion_metrics import (FUSION_METRIC_NAMES, QCV_ALPHA, FusionSources,
                                         resolve_metric_names)
from ..functional.grey_io import load_grey, rgb_float_to_grey


def _lookup(sample, key: str, index: int):
    """``key`` of a data sample given as a ``BaseDataElement`` or as a (possibly
    ``to_dict()``-ed) mapping, looking into a nested ``metainfo`` mapping too."""
    if isinstance(sample, BaseDataElement):
        value = sample.get(key, None)
        keys = list(sample.keys()) + list(sample.metainfo_keys())
    elif isinstance(sample, Mapping):
        value = sample.get(key, None)
        meta = sample.get('metainfo', None)
        if value is None and isinstance(meta, Mapping):
            value = meta.get(key, None)
        keys = list(sample.keys())
    else:
        raise TypeError(f'FusionQualityMetric: data sample {index} is a {type(sample).__name__}; '
                        'expected a BaseDataElement or a dict')
    if value is None:
        raise KeyError(f"FusionQualityMetric: data sample {index} has no '{key}' "
                       f'(available: {sorted(keys)}); the fusion model must return '
                       "'pred_fused' (3, H, W) RGB in [0, 1] and keep the metainfo "
                       "'ir_path' and 'vi_path'")
    return value


@METRICS.register_module()
class FusionQualityMetric(BaseMetric):
    """Mean fusion-quality metrics (EN, SD, SF, AG, MI, SCD, CC, MSE, PSNR, VIF, Qabf, SSIM,
    Qcb, Qcv) of fused images against their infrared and visible sources.

    Each data sample must carry ``pred_fused``: a float tensor ``(3, H, W)``, RGB in [0, 1], at
    the original image size, and the metainfo ``ir_path`` / ``vi_path``. The fused image is
    scored as if it had been saved as an 8-bit file (``uint8(round(clip(x * 255)))``, then
    RGB -> grey with OpenCV's weights, rounded); the sources are read from their files with
    :func:`~cldyn_mm.evaluation.functional.load_grey`. So the figures equal what
    ``tools/analysis_tools/eval_fusion.py`` reports on the saved images, in the conventions of
    ``docs/metrics.md``.

    Config::

        val_evaluator = dict(type='FusionQualityMetric', metric=['EN', 'MI', 'Qabf'])

    The argument is ``metric`` (singular, as in mmdet's ``CocoMetric(metric='bbox')``), not
    ``metrics``: MMEngine's runner treats any evaluator config dict with a ``metrics`` key as
    an ``Evaluator`` config.

    Args:
        metric (str | Sequence[str]): the metric(s) to report, case-insensitive names from
            EN, SD, SF, AG, MI, SCD, CC, MSE, PSNR, VIF, Qabf, SSIM, Qcb, Qcv; default all
            fourteen. Reported in the given order.
        device (str): where the metrics are computed (``'cpu'`` or e.g. ``'cuda'``).
        ssim_data_range (float): SSIM's data range, default 255.
        qcv_alpha (float): Qcv saliency exponent, default 1 (the spec; VIFB uses 5).
        qcv_window (int): Qcv region size, default 16.
        collect_device (str): device for collecting results across ranks.
        prefix (str, optional): key prefix, default ``'fusion'`` (keys ``fusion/EN`` ...).
        collect_dir (str, optional): directory for cpu collection.
        fused_key (str): the data-sample field with the fused image, default ``'pred_fused'``
            (a fuser's output); ``'fused_img'`` scores the image a fused task wrapper
            (``FusedSegmentor`` / ``FusedDetector``) handed to its task network.

    Raises:
        ValueError: unknown metric names (the message lists the valid ones); in ``process``,
            sources and fused image of different sizes (the message names the files).
    """
    default_prefix: Optional[str] = 'fusion'

    def __init__(self,
                 metric: Union[str, Sequence[str]] = FUSION_METRIC_NAMES,
                 device: str = 'cpu',
                 ssim_data_range: float = 255.0,
                 qcv_alpha: float = QCV_ALPHA,
                 qcv_window: int = 16,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None,
                 fused_key: str = 'pred_fused') -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        #: the data-sample field holding the fused image
        self.fused_key = fused_key
        #: canonical names of the reported metrics, in order
        self.metric_names = resolve_metric_names(metric)
        self.device = torch.device(device)
        self.options = dict(
            ssim_data_range=ssim_data_range, qcv_alpha=qcv_alpha, qcv_window=qcv_window)

    def process(self, data_batch, data_samples: Sequence) -> None:
        """Score every sample of the batch; samples of equal size are scored as one batch."""
        triples = []
        for i, sample in enumerate(data_samples):
            fused = _lookup(sample, self.fused_key, i)
            if isinstance(fused, BaseDataElement) and isinstance(
                    getattr(fused, 'data', None), torch.Tensor):
                fused = fused.data  # PixelData-style wrapper
            ir_path = str(_lookup(sample, 'ir_path', i))
            vi_path = str(_lookup(sample, 'vi_path', i))
            F = rgb_float_to_grey(fused)
            A = load_grey(ir_path)
            B = load_grey(vi_path)
            if not (A.shape == B.shape == F.shape):
                raise ValueError(
                    'FusionQualityMetric: sizes differ (H, W): infrared '
                    f'{ir_path} {A.shape}, visible {vi_path} {B.shape}, pred_fused {F.shape}; '
                    'the fused image must be at the original size of the sources')
            triples.append((ir_path, vi_path, A, B, F))

        by_size: Dict[tuple, List[int]] = {}
        for idx, t in enumerate(triples):
            by_size.setdefault(t[2].shape, []).append(idx)
        scores: List[Optional[dict]] = [None] * len(triples)
        for indices in by_size.values():
            stack = [
                torch.from_numpy(np.stack([triples[j][k] for j in indices])).to(self.device)
                for k in (2, 3, 4)
            ]
            values = FusionSources(stack[0], stack[1],
                                   **self.options).evaluate(stack[2], self.metric_names)
            values = {k: v.cpu().tolist() for k, v in values.items()}
            for pos, j in enumerate(indices):
                scores[j] = {k: v[pos] for k, v in values.items()}
        for (ir_path, vi_path, *_), score in zip(triples, scores):
            self.results.append(dict(ir_path=ir_path, vi_path=vi_path, **score))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Mean of each metric over all scored samples (NaN if a sample's value is NaN)."""
        if not results:
            raise ValueError('FusionQualityMetric received no samples to average')
        out = {}
        for name in self.metric_names:
            values = np.array([r[name] for r in results], dtype=np.float64)
            n_nan = int(np.isnan(values).sum())
            if n_nan:
                warnings.warn(f'FusionQualityMetric: {name} is NaN for {n_nan} of '
                              f'{len(values)} images (constant images give NaN for SCD, CC, '
                              'Qcb, Qcv); the mean is NaN')
            out[name] = float(values.mean())
        return out


@EVALUATOR.register_module(name='FusionQualityMetric')
def _fusion_quality_metric_with_metrics_key(**kwargs):
    """Clear error for ``dict(type='FusionQualityMetric', metrics=...)``.

    MMEngine's runner sends an evaluator config that has a ``metrics`` key to the EVALUATOR
    registry instead of building it as a metric; without this entry the user would only see
    "FusionQualityMetric is not in the evaluator registry".
    """
    raise TypeError(
        "FusionQualityMetric takes 'metric' (singular), not 'metrics': MMEngine treats an "
        "evaluator config with a 'metrics' key as an Evaluator config. Write e.g. "
        f"dict(type='FusionQualityMetric', metric={kwargs.get('metrics', ['EN', 'MI'])!r}).")
