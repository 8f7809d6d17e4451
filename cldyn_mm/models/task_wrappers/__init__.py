from .fused_task_model import (FUSION_MODES, BaseFusedTaskModel, FusedDetector, FusedSegmentor,
                               FusedTaskDataPreprocessor)

__all__ = ['FUSION_MODES', 'BaseFusedTaskModel', 'FusedDetector', 'FusedSegmentor',
           'FusedTaskDataPreprocessor']
from .fused_task_trainer import (TRAIN_MODES, BaseFusedTaskTrainer,  # noqa: E501,F401
                                 TrainableFusedDetector, TrainableFusedSegmentor,
                                 export_task_checkpoint)
