from .base_fuser import BaseFuser
from .vfn_fuser import VFNFuser

__all__ = ['BaseFuser', 'VFNFuser']
