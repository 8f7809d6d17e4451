from .fusion_panel import concat_tiles, make_panel, put_title, to_uint8_rgb
from .fusion_visualizer import (FusedDetVisualizer, FusedSegVisualizer, FusionPanelMixin,
                                FusionVisualizer, saliency_overlay, split_pair)

__all__ = [
    'FusionVisualizer', 'FusedDetVisualizer', 'FusedSegVisualizer', 'FusionPanelMixin',
    'concat_tiles', 'make_panel', 'put_title', 'saliency_overlay', 'split_pair', 'to_uint8_rgb'
]
