"""Typed data samples of cldyn_mm (see :mod:`.fusion_data_sample`)."""
from .fusion_data_sample import (PANEL_IMAGES, TASK_PREDICTION_FIELDS, FusionDataSample,
                                 prediction_sample)

__all__ = ['FusionDataSample', 'PANEL_IMAGES', 'TASK_PREDICTION_FIELDS', 'prediction_sample']
