from .fusion_visualization_hook import FusionVisualizationHook

__all__ = ['FusionVisualizationHook']
