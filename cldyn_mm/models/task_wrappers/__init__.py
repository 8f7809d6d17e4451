from .fused_task_model import (FUSION_MODES, BaseFusedTaskModel, FusedDetector, FusedSegmentor,
                               FusedTaskDataPreprocessor)
from .fused_task_trainer import (TRAIN_MODES, BaseFusedTaskTrainer, TrainableFusedDetector,
                                 TrainableFusedSegmentor, export_task_checkpoint)

__all__ = [
    'FUSION_MODES', 'BaseFusedTaskModel', 'FusedDetector', 'FusedSegmentor',
    'FusedTaskDataPreprocessor', 'TRAIN_MODES', 'BaseFusedTaskTrainer', 'TrainableFusedDetector',
    'TrainableFusedSegmentor', 'export_task_checkpoint'
]
