from .paired_det_dataset import (DemoDetDataset, M3FDDataset, MSRSDetDataset, PairedCocoDetDataset,
                                 PairedVOCDetDataset, PairedYOLODetDataset)
from .paired_image_dataset import KNOWN_LAYOUTS, PairedImageDataset
from .paired_seg_dataset import (DemoSegDataset, DemoSODDataset, FMBSegDataset, MSRSSegDataset,
                                 PairedSegDataset, PairedSODDataset, VTSODDataset)
from .transforms import *  # noqa: F401,F403

__all__ = [
    'PairedImageDataset', 'KNOWN_LAYOUTS', 'PairedCocoDetDataset', 'DemoDetDataset',
    'PairedVOCDetDataset', 'M3FDDataset', 'PairedYOLODetDataset', 'MSRSDetDataset',
    'PairedSegDataset', 'MSRSSegDataset', 'FMBSegDataset', 'DemoSegDataset', 'PairedSODDataset',
    'VTSODDataset', 'DemoSODDataset'
]
