"""CheckpointCompatibilityHook: the closed-loop options recorded in checkpoints and compared
when one is loaded (resume refused under other options, load_from warned)."""
from types import SimpleNamespace

import pytest
import torch.nn as nn

from cldyn_mm.engine.hooks import CheckpointCompatibilityHook


class _ClosedLoopLike(nn.Module):

    def __init__(self, **options):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.options = dict(
            penalty_weight=5.0,
            cagrad_quadratic=0.5,
            clip_norm=1.0,
            clip_bank=False,
            freeze_prototypes=False,
            **options)

    def closed_loop_options(self):
        return dict(self.options)


def _runner(model, resume, path='ckpt.pth'):
    return SimpleNamespace(model=model, _resume=resume, _load_from=path)


def test_options_are_recorded_when_saving():
    model, checkpoint = _ClosedLoopLike(), {'meta': {'seed': 0}}
    CheckpointCompatibilityHook().before_save_checkpoint(_runner(model, False), checkpoint)
    assert checkpoint['meta']['closed_loop_options'] == model.closed_loop_options()
    assert checkpoint['meta']['seed'] == 0


def _checkpoint(model, options):
    meta = {} if options is None else {'closed_loop_options': options}
    return {'state_dict': model.state_dict(), 'meta': meta}


def test_same_options_load_silently_and_other_options_refuse_a_resume():
    hook, model = CheckpointCompatibilityHook(), _ClosedLoopLike()
    hook.after_load_checkpoint(_runner(model, True), _checkpoint(model, model.options))
    other = dict(model.options, freeze_prototypes=True)
    with pytest.raises(ValueError, match='freeze_prototypes: checkpoint True, config False'):
        hook.after_load_checkpoint(_runner(model, True), _checkpoint(model, other))


def test_a_checkpoint_from_before_the_research_step_is_named(mmengine_log):
    """Checkpoints without the record were trained with the old objective, the bank clipped
    and the prototypes frozen: resuming them is refused with that list; their weights load
    with load_from (a warning says what differs)."""
    hook, model = CheckpointCompatibilityHook(), _ClosedLoopLike()
    with pytest.raises(
            ValueError,
            match='before the closed loop followed the research step'
            r'.*cagrad_quadratic: checkpoint 1\.0, config 0\.5.*clip_bank'):
        hook.after_load_checkpoint(_runner(model, True), _checkpoint(model, None))
    hook.after_load_checkpoint(_runner(model, False), _checkpoint(model, None))
    assert any('freeze_prototypes: checkpoint True, config False' in m for m in mmengine_log)
