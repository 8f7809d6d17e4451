from .multitask_optim_wrapper import (AmpMultiTaskOptimWrapper, MultiTaskOptimWrapper,
                                      NonFiniteTaskLoss)

__all__ = ['MultiTaskOptimWrapper', 'AmpMultiTaskOptimWrapper', 'NonFiniteTaskLoss']
