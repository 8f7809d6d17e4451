"""Evaluation: batched functional metrics and MMEngine metric wrappers.

``cldyn_mm.evaluation.functional`` needs only torch/numpy/OpenCV; importing this package also
registers the MMEngine metrics (``FusionQualityMetric``, ``SODMetric``) in
``cldyn_mm.registry.METRICS``.
"""
from .functional import *  # noqa: F401,F403
from .functional import __all__ as _functional_all
from .metrics import *  # noqa: F401,F403
from .metrics import __all__ as _metrics_all

__all__ = list(_functional_all) + list(_metrics_all)
