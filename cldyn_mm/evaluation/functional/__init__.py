"""Functional (batched torch) evaluation metrics.

Importing this package needs only torch, numpy and OpenCV (no MMEngine registry), so tools
such as ``tools/analysis_tools/eval_fusion.py`` can use it with a fast start-up.
"""
from .fusion_metrics import (FUSION_METRIC_FUNCS, FUSION_METRIC_INFO, FUSION_METRIC_NAMES,
                             QCV_ALPHA, FusionSources, compute_fusion_metrics, fusion_ag, fusion_cc,
                             fusion_en, fusion_mi, fusion_mse, fusion_psnr, fusion_qabf, fusion_qcb,
                             fusion_qcv, fusion_scd, fusion_sd, fusion_sf, fusion_ssim, fusion_vif,
                             resolve_metric_names)
from .grey_io import IMAGE_EXTENSIONS, load_grey, rgb_float_to_grey

__all__ = [
    'FUSION_METRIC_FUNCS', 'FUSION_METRIC_INFO', 'FUSION_METRIC_NAMES', 'QCV_ALPHA',
    'FusionSources', 'compute_fusion_metrics', 'resolve_metric_names', 'fusion_en', 'fusion_sd',
    'fusion_sf', 'fusion_ag', 'fusion_mi', 'fusion_scd', 'fusion_cc', 'fusion_mse', 'fusion_psnr',
    'fusion_vif', 'fusion_qabf', 'fusion_ssim', 'fusion_qcb', 'fusion_qcv', 'load_grey',
    'rgb_float_to_grey', 'IMAGE_EXTENSIONS'
]
