from .formatting import PackFusionInputs
from .geometric import RandomRot90
from .loading import LoadIRVisPair, load_ir, load_visible

__all__ = ['LoadIRVisPair', 'PackFusionInputs', 'RandomRot90', 'load_ir', 'load_visible']
