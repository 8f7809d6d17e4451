from .closed_loop_cldyn import ClosedLoopCLDyN, NonFiniteTaskLoss
from .distributed import ClosedLoopDistributedWrapper

__all__ = ['ClosedLoopCLDyN', 'ClosedLoopDistributedWrapper', 'NonFiniteTaskLoss']
