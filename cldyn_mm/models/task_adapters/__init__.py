from .base_task_adapter import BaseTaskAdapter, load_task_config, resolve_model_cfg
from .mmdet_task_adapter import MMDetTaskAdapter
from .mmseg_task_adapter import MMSegTaskAdapter, SODTaskAdapter
from .sod_losses import SaliencyIoULoss, saliency_map

__all__ = [
    'BaseTaskAdapter', 'MMDetTaskAdapter', 'MMSegTaskAdapter', 'SODTaskAdapter', 'SaliencyIoULoss',
    'saliency_map', 'load_task_config', 'resolve_model_cfg'
]
