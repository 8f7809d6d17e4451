"""Refuse a checkpoint written for another configuration before anything is loaded.

MMEngine loads ``load_from`` / ``resume`` checkpoints non-strictly: keys that do not match are
only warned about, so a checkpoint of another configuration (other tasks, other RSC or bank
sizes, another task network) would silently start training from a half-loaded model. This hook
compares the checkpoint's ``state_dict`` with the model's before they are loaded and raises an
error listing what differs.

For a model with ``closed_loop_options()`` (:class:`ClosedLoopCLDyN`) it also records the
closed-loop options in every checkpoint's ``meta`` and compares them when a checkpoint is
loaded: resuming a run under other options is refused with the list of differences (the
continuation would not be the run that was started); loading weights with ``load_from`` only
warns. The options are the model's (penalty weight, frozen prototypes, bf16 autocast) merged
with the optimizer wrapper's (CAGrad objective and settings, clipping:
``MultiTaskOptimWrapper.closed_loop_options()``, or the same read from an ``optim_wrapper``
config that is not built yet) -- one flat record, the same keys as checkpoints written when
all of them were model options, so those checkpoints resume unchanged.
"""
import logging
from typing import List, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from cldyn_mm.registry import HOOKS
from ..optimizers.multitask_optim_wrapper import is_multitask_wrapper_config, update_options

OPTIONS_KEY = 'closed_loop_options'
# what closed-loop checkpoints written before the options were recorded were trained with
LEGACY_OPTIONS = dict(cagrad_quadratic=1.0, clip_bank=True, freeze_prototypes=True)


def option_differences(recorded: dict, current: dict) -> List[str]:
    """``'name: checkpoint X, config Y'`` for each option whose values differ (options the
    record lacks are not compared)."""
    return [
        f'{k}: checkpoint {recorded[k]!r}, config {current[k]!r}' for k in current
        if k in recorded and recorded[k] != current[k]
    ]


def closed_loop_options(runner, model) -> Optional[dict]:
    """The closed-loop options of a run: ``model.closed_loop_options()`` updated with those of
    ``runner.optim_wrapper`` (a built wrapper with ``closed_loop_options()``, or a
    ``MultiTaskOptimWrapper`` config); None for a model without closed-loop options."""
    if not hasattr(model, 'closed_loop_options'):
        return None
    options = dict(model.closed_loop_options())
    wrapper = getattr(runner, 'optim_wrapper', None)
    if hasattr(wrapper, 'closed_loop_options'):
        options.update(wrapper.closed_loop_options())
    elif is_multitask_wrapper_config(wrapper):
        options.update(update_options(**wrapper))
    return options


def _examples(keys: List[str], n: int = 5) -> str:
    return ', '.join(keys[:n]) + (f' ... ({len(keys)} in all)' if len(keys) > n else '')


@HOOKS.register_module()
class CheckpointCompatibilityHook(Hook):
    """Raise when a checkpoint being loaded does not match the model (keys or shapes).

    Args:
        ignore_prefixes (tuple[str]): Key prefixes not compared. Defaults to
            ``('data_preprocessor.',)``.
    """

    priority = 'VERY_HIGH'

    def __init__(self, ignore_prefixes=('data_preprocessor.', )) -> None:
        self.ignore_prefixes = tuple(ignore_prefixes)

    def _keep(self, key: str) -> bool:
        return not key.startswith(self.ignore_prefixes)

    @staticmethod
    def _model(runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        options = closed_loop_options(runner, self._model(runner))
        if options is not None:
            checkpoint.setdefault('meta', {})[OPTIONS_KEY] = options

    def _check_options(self, runner, model, checkpoint: dict, source: str) -> None:
        current = closed_loop_options(runner, model)
        if current is None:
            return
        recorded = (checkpoint.get('meta') or {}).get(OPTIONS_KEY)
        legacy = recorded is None
        diffs = option_differences(LEGACY_OPTIONS if legacy else recorded, current)
        if not diffs:
            return
        what = ('was written before the closed loop followed the research step and was '
                'trained with ' if legacy else 'was trained with other closed-loop options: ')
        if getattr(runner, '_resume', False):
            raise ValueError(
                f'checkpoint {source} {what}' + '; '.join(diffs) + '. Resuming would continue '
                'it under other rules, so nothing was loaded: set those options (model.'
                'penalty_weight / freeze_prototypes / bf16_autocast, optim_wrapper.cagrad / '
                "clip_norm / clip_bank) to the checkpoint's values to resume it, or start a new "
                'run from its weights with load_from (resume=False).')
        print_log(
            f'checkpoint {source} {what}' + '; '.join(diffs) + '. Its weights are '
            "loaded; training continues with the config's options.",
            logger='current',
            level=logging.WARNING)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        if not isinstance(state, dict):
            raise ValueError('the checkpoint being loaded has no state_dict')
        model = self._model(runner)
        own = {k: v for k, v in model.state_dict().items() if self._keep(k)}
        theirs = {
            (k[len('module.'):] if k.startswith('module.') else k): v
            for k, v in state.items()
        }
        theirs = {k: v for k, v in theirs.items() if self._keep(k)}
        # keys of the fusion networks' pre-ConvModule layout load under their new names
        from cldyn_mm.models.fusion.layers import upgrade_legacy_keys
        theirs = upgrade_legacy_keys(model, theirs)
        missing = sorted(set(own) - set(theirs))
        unexpected = sorted(set(theirs) - set(own))
        shapes = sorted(
            f'{k}: checkpoint {tuple(theirs[k].shape)} vs model '
            f'{tuple(own[k].shape)}' for k in set(own) & set(theirs)
            if hasattr(theirs[k], 'shape') and tuple(theirs[k].shape) != tuple(own[k].shape))
        source = getattr(runner, '_load_from', None) or 'the resumed checkpoint'
        if not (missing or unexpected or shapes):
            self._check_options(runner, model, checkpoint, source)
            return
        parts = []
        if missing:
            parts.append(f'{len(missing)} model keys missing from it (e.g. {_examples(missing)})')
        if unexpected:
            parts.append(f'{len(unexpected)} keys the model does not have '
                         f'(e.g. {_examples(unexpected)})')
        if shapes:
            parts.append(f'{len(shapes)} shape mismatches ({_examples(shapes, 3)})')
        raise ValueError(f'checkpoint {source} was written for another configuration than '
                         f'{type(model).__name__} of this config: ' + '; '.join(parts) +
                         '. Nothing was loaded. Check the tasks, the RSC / bank sizes and the '
                         'task networks of the config, or pick the right checkpoint.')
