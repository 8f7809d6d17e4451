from .fused_task_model import (FUSION_MODES, BaseFusedTaskModel, FusedDetector,
                               FusedSegmentor, FusedTaskDataPreprocessor)

__all__ = ['FUSION_MODES', 'BaseFusedTaskModel', 'FusedDetector', 'FusedSegmentor',
           'FusedTaskDataPreprocessor']
