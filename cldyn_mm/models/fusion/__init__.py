from .gradients import sobel_l1
from .vfn import VFN, DenseDilatedBlock, FeatureEncoder, FusionDecoder, GradientAttentionFusion

__all__ = [
    'VFN', 'DenseDilatedBlock', 'FeatureEncoder', 'GradientAttentionFusion', 'FusionDecoder',
    'sobel_l1'
]
