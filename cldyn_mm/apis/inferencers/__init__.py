from .fusion_inferencer import FusionInferencer
from .prediction_io import DetectionJSONWriter, MaskPNGWriter, prediction_writer

__all__ = ['FusionInferencer', 'DetectionJSONWriter', 'MaskPNGWriter', 'prediction_writer']
