"""Refuse a checkpoint written for another configuration before anything is loaded.

MMEngine loads ``load_from`` / ``resume`` checkpoints non-strictly: keys that do not match are
only warned about, so a checkpoint of another configuration (other tasks, other RSC or bank
sizes, another task network) would silently start training from a half-loaded model. This hook
compares the checkpoint's ``state_dict`` with the model's before they are loaded and raises an
error listing what differs.
"""
from typing import List

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from cldyn_mm.registry import HOOKS


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

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint)
        if not isinstance(state, dict):
            raise ValueError('the checkpoint being loaded has no state_dict')
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        own = {k: v for k, v in model.state_dict().items() if self._keep(k)}
        theirs = {(k[len('module.'):] if k.startswith('module.') else k): v
                  for k, v in state.items()}
        theirs = {k: v for k, v in theirs.items() if self._keep(k)}
        missing = sorted(set(own) - set(theirs))
        unexpected = sorted(set(theirs) - set(own))
        shapes = sorted(f'{k}: checkpoint {tuple(theirs[k].shape)} vs model '
                        f'{tuple(own[k].shape)}' for k in set(own) & set(theirs)
                        if hasattr(theirs[k], 'shape') and tuple(theirs[k].shape)
                        != tuple(own[k].shape))
        if not (missing or unexpected or shapes):
            return
        source = getattr(runner, '_load_from', None) or 'the resumed checkpoint'
        parts = []
        if missing:
            parts.append(f'{len(missing)} model keys missing from it (e.g. {_examples(missing)})')
        if unexpected:
            parts.append(f'{len(unexpected)} keys the model does not have '
                         f'(e.g. {_examples(unexpected)})')
        if shapes:
            parts.append(f'{len(shapes)} shape mismatches ({_examples(shapes, 3)})')
        raise ValueError(f'checkpoint {source} was written for another configuration than '
                         f'{type(model).__name__} of this config: ' + '; '.join(parts)
                         + '. Nothing was loaded. Check the tasks, the RSC / bank sizes and the '
                         'task networks of the config, or pick the right checkpoint.')
