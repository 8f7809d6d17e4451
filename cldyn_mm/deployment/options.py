"""Defaults and option checks of the ONNX export (no torch import: the command line checks
its arguments before loading anything heavy)."""
from typing import Sequence, Tuple

DEFAULT_OPSET = 17
# the lowest opset the TorchScript exporter handles for these graphs (einsum needs 12,
# unflatten 13); opsets 13-23 were verified with onnxruntime 1.32 (docs/deployment.md)
MIN_OPSET = 13
DEFAULT_SHAPE = (256, 320)
MIN_SIZE = 8
# SegFormer's backbone.norm4 for a 640x480 image (benchmarks/bench_fusion.py's default)
DEFAULT_TASK_SHAPE = (512, 15, 20)


class ExportError(ValueError):
    """A model or an option that cannot be exported (the message says why)."""


def check_shape(shape: Sequence,
                what: str = '--shape',
                length: int = 2,
                minimum: int = MIN_SIZE) -> Tuple[int, ...]:
    """``shape`` as a tuple of ``length`` ints >= ``minimum``, else :class:`ExportError`."""
    try:
        out = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise ExportError(f'{what} must be {length} integers, got {list(shape)}') from None
    if len(out) != length:
        raise ExportError(f'{what} must be {length} integers, got {list(shape)}')
    if any(s < minimum for s in out):
        raise ExportError(f'{what} values must be >= {minimum}, got {list(out)}')
    return out


def check_opset(opset: int) -> int:
    """``opset`` if it can be exported to, else :class:`ExportError`."""
    if not isinstance(opset, int) or opset < MIN_OPSET:
        raise ExportError(f'opset must be an integer >= {MIN_OPSET}, got {opset!r}')
    return opset
