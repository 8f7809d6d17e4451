from .formatting import PackFusionInputs
from .geometric import RandomRot90
from .loading import LoadIRVisPair, load_ir, load_visible
from .task_transforms import (LoadPairedSegAnnotations, PackPairedDetInputs, PackPairedSegInputs,
                              VisibleOnly)

__all__ = [
    'LoadIRVisPair', 'PackFusionInputs', 'RandomRot90', 'load_ir', 'load_visible',
    'LoadPairedSegAnnotations', 'PackPairedDetInputs', 'PackPairedSegInputs', 'VisibleOnly'
]
