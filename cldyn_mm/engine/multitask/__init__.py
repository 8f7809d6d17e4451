from .cagrad import cagrad_weights, combine_task_gradients, project_to_simplex
from .task_gradients import TaskGradientCombiner, clip_grad_groups

__all__ = [
    'cagrad_weights', 'combine_task_gradients', 'project_to_simplex', 'TaskGradientCombiner',
    'clip_grad_groups'
]
