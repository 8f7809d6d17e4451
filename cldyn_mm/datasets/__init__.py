from .paired_image_dataset import KNOWN_LAYOUTS, PairedImageDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['PairedImageDataset', 'KNOWN_LAYOUTS']
