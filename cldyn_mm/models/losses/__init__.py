from .fusion_loss import VFNLoss

__all__ = ['VFNLoss']
