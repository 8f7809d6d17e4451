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


class _ModelOptionsOnly(nn.Module):
    """A model as ClosedLoopCLDyN is now: its own options only; the update's are the optimizer
    wrapper's."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)

    def closed_loop_options(self):
        return dict(penalty_weight=5.0, freeze_prototypes=False, bf16_autocast=False)


# meta.closed_loop_options as ClosedLoopCLDyN wrote it while the update options were model
# options (one flat record)
RECORDED_BEFORE_THE_WRAPPER = dict(
    penalty_weight=5.0,
    cagrad_quadratic=0.5,
    cagrad=dict(lam=0.5, steps=250, lr=0.1),
    clip_norm=1.0,
    clip_bank=False,
    freeze_prototypes=False,
    bf16_autocast=False)


def _wrapper(model, **kwargs):
    import torch

    from cldyn_mm.engine.optimizers import MultiTaskOptimWrapper
    return MultiTaskOptimWrapper(
        torch.optim.Adam(model.parameters(), lr=0.01),
        cagrad=dict(lam=0.5, steps=250, lr=0.1),
        **kwargs)


def test_model_and_optim_wrapper_options_are_recorded_as_one_flat_record():
    model, checkpoint = _ModelOptionsOnly(), {}
    runner = SimpleNamespace(model=model, optim_wrapper=_wrapper(model), _resume=False)
    CheckpointCompatibilityHook().before_save_checkpoint(runner, checkpoint)
    assert checkpoint['meta']['closed_loop_options'] == RECORDED_BEFORE_THE_WRAPPER


def test_checkpoints_written_before_the_wrapper_resume_and_other_update_options_refuse():
    """A checkpoint whose options were all model options resumes with the same settings split
    between model and optim_wrapper; a different optim_wrapper setting is refused, named."""
    hook, model = CheckpointCompatibilityHook(), _ModelOptionsOnly()
    old = _checkpoint(model, RECORDED_BEFORE_THE_WRAPPER)
    runner = SimpleNamespace(
        model=model, optim_wrapper=_wrapper(model), _resume=True, _load_from='old.pth')
    hook.after_load_checkpoint(runner, old)
    runner.optim_wrapper = _wrapper(model, clip_bank=True)
    with pytest.raises(ValueError, match=r'clip_bank: checkpoint False, config True.*optim_wr'):
        hook.after_load_checkpoint(runner, old)


def test_an_unbuilt_optim_wrapper_config_is_compared_too(mmengine_log):
    """runner.test() with load_from: the optim_wrapper is still a config."""
    hook, model = CheckpointCompatibilityHook(), _ModelOptionsOnly()
    cfg = dict(
        type='MultiTaskOptimWrapper',
        optimizer=dict(type='Adam', lr=0.01),
        cagrad=dict(lam=0.5, steps=250, lr=0.1),
        clip_norm=2.0)
    runner = SimpleNamespace(model=model, optim_wrapper=cfg, _resume=False, _load_from='old.pth')
    hook.after_load_checkpoint(runner, _checkpoint(model, RECORDED_BEFORE_THE_WRAPPER))
    assert any('clip_norm: checkpoint 1.0, config 2.0' in m for m in mmengine_log)
