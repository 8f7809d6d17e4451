from .fusion_inference import fuse_folder, init_fuser, load_task_feature

__all__ = ['init_fuser', 'fuse_folder', 'load_task_feature']
