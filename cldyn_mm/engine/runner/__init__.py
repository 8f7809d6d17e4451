from .closed_loop_loops import ClosedLoopTestLoop, ClosedLoopTrainLoop, ClosedLoopValLoop

__all__ = ['ClosedLoopTrainLoop', 'ClosedLoopValLoop', 'ClosedLoopTestLoop']
