"""Deployment: ONNX export of the fusion models (docs/deployment.md).

The export itself lives in :mod:`cldyn_mm.deployment.onnx_export` (imports torch; ``onnx`` and
``onnxruntime`` only where needed); this package only holds the torch-free options.
"""
from .options import (DEFAULT_OPSET, DEFAULT_SHAPE, DEFAULT_TASK_SHAPE, MIN_OPSET, ExportError,
                      check_opset, check_shape)

__all__ = [
    'DEFAULT_OPSET', 'DEFAULT_SHAPE', 'DEFAULT_TASK_SHAPE', 'MIN_OPSET', 'ExportError',
    'check_opset', 'check_shape'
]
