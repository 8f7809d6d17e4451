from .checkpoint_compatibility_hook import CheckpointCompatibilityHook
from .closed_loop_best_checkpoint_hook import ClosedLoopBestCheckpointHook
from .fusion_visualization_hook import FusionVisualizationHook
from .task_visualization_hook import TaskVisualizationHook

__all__ = [
    'CheckpointCompatibilityHook', 'ClosedLoopBestCheckpointHook', 'FusionVisualizationHook',
    'TaskVisualizationHook'
]
