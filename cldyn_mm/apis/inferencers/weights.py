"""Strict loading of inference weights with one-line errors that name the file."""
import os.path as osp
import warnings
import zipfile
from typing import Dict, List

import torch
import torch.nn as nn

from cldyn_mm.utils.checkpoint import allow_mmengine_checkpoints, trusted_load

_IGNORED = ('data_preprocessor.', )


def _reason(e: BaseException) -> str:
    """The informative line of a torch.load error (the unpickler's reason when given)."""
    text = str(e)
    marker = 'WeightsUnpickler error:'
    if marker in text:
        reason = ' '.join(text.split(marker, 1)[1].split('Check the documentation')[0].split())
        if reason:
            return f'the safe unpickler refused it: {reason}'
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[0] if lines else type(e).__name__


def _starts_like_pickle(path: str) -> bool:
    """A pickle of protocol >= 2 (torch's legacy format) starts with the PROTO opcode."""
    with open(path, 'rb') as f:
        return f.read(1) == b'\x80'


def read_checkpoint(path: str, trust: bool = False) -> dict:
    """``torch.load`` a checkpoint safely (``weights_only``; MMEngine's classes allowlisted,
    see :mod:`cldyn_mm.utils.checkpoint`); ``trust`` unpickles fully (trusted files only).

    Raises ``FileNotFoundError`` (missing), ``ValueError`` (not a torch file, refused by safe
    loading, or not a dict), each naming the file."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    allow_mmengine_checkpoints()
    try:
        with warnings.catch_warnings():  # torch's note on pickle protocols: not for users
            warnings.filterwarnings('ignore', message='Detected pickle protocol')
            ckpt = (
                trusted_load(path) if trust else torch.load(
                    path, map_location='cpu', weights_only=True))
    except Exception as e:  # noqa: BLE001 - torch raises many types for bad files
        if not zipfile.is_zipfile(path) and not _starts_like_pickle(path):
            raise ValueError(f'{path} is not a PyTorch checkpoint (neither a torch.save zip '
                             'archive nor a pickle)') from e
        raise ValueError(f'{path} cannot be loaded safely ({_reason(e)}); only if you '
                         'made it or trust it, load it with trust_checkpoint=True '
                         '(--trust-checkpoint)') from e
    if not isinstance(ckpt, dict):
        raise ValueError(f'{path} is not a checkpoint: it holds a {type(ckpt).__name__}, '
                         'not a dict with a state_dict')
    return ckpt


def _shorten(keys: List[str], n: int = 3) -> str:
    return ', '.join(keys[:n]) + (', ...' if len(keys) > n else '')


def load_model_weights(model: nn.Module, path: str, trust: bool = False, owner: str = '') -> dict:
    """Load ``path`` into ``model`` strictly (``module.`` prefixes stripped; the data
    preprocessor's buffers ignored) and return the checkpoint's ``meta`` dict ({} if none).

    A checkpoint that does not fit raises ``RuntimeError`` with one line: the file, the model
    class, ``owner`` (e.g. the config), and the numbers and first names of missing,
    unexpected and wrongly shaped keys.
    """
    ckpt = read_checkpoint(path, trust)
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict) or not state or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{path} holds no state_dict of tensors (keys: '
                         f'{_shorten(sorted(map(str, ckpt)), 6)})')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(_IGNORED)}
    own: Dict[str, torch.Tensor] = {
        k: v
        for k, v in model.state_dict().items() if not k.startswith(_IGNORED)
    }
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f'{len(missing)} missing key(s) ({_shorten(missing)})')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected key(s) ({_shorten(unexpected)})')
        if shapes:
            k = shapes[0]
            parts.append(f'{len(shapes)} shape mismatch(es) ({k}: checkpoint '
                         f'{tuple(state[k].shape)}, model {tuple(own[k].shape)})')
        where = f' of {owner}' if owner else ''
        raise RuntimeError(f'{path} does not fit the model {type(model).__name__}{where}: ' +
                           '; '.join(parts))
    model.load_state_dict(state, strict=False)
    meta = ckpt.get('meta')
    return meta if isinstance(meta, dict) else {}
