from .fusion_inference import fuse_folder, init_fuser, load_task_feature
from .inferencers import FusionInferencer
from .model_index import (UnknownModelError, get_model_info, list_models, load_model_index,
                          resolve_model)

__all__ = [
    'init_fuser', 'fuse_folder', 'load_task_feature', 'FusionInferencer', 'list_models',
    'resolve_model', 'get_model_info', 'load_model_index', 'UnknownModelError'
]
