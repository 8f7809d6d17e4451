from .checkpoint import allow_mmengine_checkpoints, read_checkpoint, trusted_load
from .colour import merge_fused_y, rgb_to_ycbcr, ycbcr_to_rgb
from .distributed import setup_cpu_distributed
from .setup_env import register_all_modules

__all__ = [
    'register_all_modules', 'allow_mmengine_checkpoints', 'read_checkpoint', 'trusted_load',
    'rgb_to_ycbcr', 'ycbcr_to_rgb', 'merge_fused_y', 'setup_cpu_distributed'
]
