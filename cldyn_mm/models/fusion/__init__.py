from .gradients import sobel_l1
from .vfn import VFN, DenseDilatedBlock, FeatureEncoder, FusionDecoder, GradientAttentionFusion

__all__ = [
    'VFN', 'DenseDilatedBlock', 'FeatureEncoder', 'GradientAttentionFusion', 'FusionDecoder',
    'sobel_l1'
]
from .a2si import A2SIBlock, TaskCodes, TaskSequence, task_sequence  # noqa: E402
from .bvb import BasisVectorBank  # noqa: E402
from .rsc import RSCChain  # noqa: E402

__all__ += [
    'A2SIBlock', 'BasisVectorBank', 'RSCChain', 'TaskCodes', 'TaskSequence', 'task_sequence'
]
