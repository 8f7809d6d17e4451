from .paired_image_dataset import KNOWN_LAYOUTS, PairedImageDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['PairedImageDataset', 'KNOWN_LAYOUTS']
from .paired_det_dataset import (DemoDetDataset, M3FDDataset, MSRSDetDataset,  # noqa: E402
                                 PairedCocoDetDataset, PairedVOCDetDataset, PairedYOLODetDataset)
from .paired_seg_dataset import (DemoSegDataset, DemoSODDataset, FMBSegDataset,  # noqa: E402
                                 MSRSSegDataset, PairedSegDataset, PairedSODDataset, VTSODDataset)

__all__ += ['PairedCocoDetDataset', 'DemoDetDataset', 'PairedVOCDetDataset', 'M3FDDataset',
            'PairedYOLODetDataset', 'MSRSDetDataset', 'PairedSegDataset', 'MSRSSegDataset',
            'FMBSegDataset', 'DemoSegDataset', 'PairedSODDataset', 'VTSODDataset',
            'DemoSODDataset']
