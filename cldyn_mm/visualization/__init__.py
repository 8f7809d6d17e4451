from .fusion_panel import make_panel, to_uint8_rgb

__all__ = ['make_panel', 'to_uint8_rgb']
