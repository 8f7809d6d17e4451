from .fusion_quality_metric import FusionQualityMetric
from .sod_metric import SODMetric

__all__ = ['FusionQualityMetric', 'SODMetric']
