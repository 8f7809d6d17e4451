from .base_fuser import BaseFuser
from .vfn_fuser import VFNFuser

__all__ = ['BaseFuser', 'VFNFuser']
from .cldyn_fuser import CLDyNFuser  # noqa: E402

__all__ += ['CLDyNFuser']
