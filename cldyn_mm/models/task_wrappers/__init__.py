from .fused_task_model import (FUSION_MODES, BaseFusedTaskModel, FusedDetector,
                               FusedSegmentor, FusedTaskDataPreprocessor)

__all__ = ['FUSION_MODES', 'BaseFusedTaskModel', 'FusedDetector', 'FusedSegmentor',
           'FusedTaskDataPreprocessor']
from .fused_task_trainer import (TRAIN_MODES, BaseFusedTaskTrainer, TrainableFusedDetector,  # noqa: E501,F401
                                 TrainableFusedSegmentor, export_task_checkpoint)
