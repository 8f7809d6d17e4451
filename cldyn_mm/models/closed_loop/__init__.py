from .closed_loop_cldyn import ClosedLoopCLDyN
from .distributed import ClosedLoopDistributedWrapper

__all__ = ['ClosedLoopCLDyN', 'ClosedLoopDistributedWrapper']
