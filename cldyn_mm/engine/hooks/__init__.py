from .fusion_visualization_hook import FusionVisualizationHook
from .task_visualization_hook import TaskVisualizationHook

__all__ = ['FusionVisualizationHook', 'TaskVisualizationHook']
