from .fusion_loss import VFNLoss
from .reward_penalty_loss import RewardPenaltyLoss, reward_penalty_loss

__all__ = ['VFNLoss', 'RewardPenaltyLoss', 'reward_penalty_loss']
