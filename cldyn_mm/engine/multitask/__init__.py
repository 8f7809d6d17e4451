from .cagrad import cagrad_weights, combine_task_gradients, project_to_simplex

__all__ = ['cagrad_weights', 'combine_task_gradients', 'project_to_simplex']
