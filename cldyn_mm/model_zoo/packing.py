"""Turn training checkpoints into the small weight files the package ships.

A shipped file is an MMEngine-style checkpoint ``{'state_dict': ..., 'meta': ...}`` holding
only the weights of the model its config builds (no optimizer, no message hub), so that
``load_checkpoint(model, file, strict=True)`` fits exactly. Large floating-point tensors may
be stored in fp16 (``half=True``); they load into the fp32 model unchanged in shape
(``load_state_dict`` copies with a cast), so the fp32 model sees the fp16-rounded values.
Small tensors (BatchNorm statistics, biases, bank and prototype vectors: fewer than
``HALF_MIN_NUMEL`` elements) stay fp32, where rounding could matter and saving is nil.

``meta['cldyn_zoo']`` records where each part came from (file, key prefix, SHA-256 of the
source file) and whether fp16 was used; ``meta['dataset_meta']`` is kept from the first part
that has it (class names for the inferencer).
"""
import hashlib
import os
import os.path as osp
from typing import Dict, Iterable, Optional, Sequence, Tuple

import torch

from cldyn_mm.utils.checkpoint import read_checkpoint

__all__ = [
    'HALF_MIN_NUMEL', 'read_state_dict', 'select_prefix', 'to_half', 'file_sha256', 'collect_parts',
    'complete_for_model', 'save_packed'
]

#: tensors with fewer elements stay fp32 in a half-precision file
HALF_MIN_NUMEL = 4096


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


#: ``(state_dict, meta)`` of a checkpoint file, read safely (the project's one reader)
read_state_dict = read_checkpoint


def select_prefix(state: Dict[str, torch.Tensor],
                  src: str,
                  dst: str = '',
                  drop: Iterable[str] = ()) -> Dict[str, torch.Tensor]:
    """The entries of ``state`` under ``src`` (``''``: all) renamed to start with ``dst``,
    without the keys starting with one of ``drop`` (checked after the renaming)."""
    out = {}
    drop = tuple(drop)
    for key, value in state.items():
        if not key.startswith(src):
            continue
        new = dst + key[len(src):]
        if drop and new.startswith(drop):
            continue
        out[new] = value
    if not out:
        raise KeyError(f'no key starts with {src!r} (keys start with: '
                       f'{sorted({k.split(".")[0] for k in state})})')
    return out


def to_half(state: Dict[str, torch.Tensor],
            min_numel: int = HALF_MIN_NUMEL) -> Dict[str, torch.Tensor]:
    """fp32/fp64 tensors with at least ``min_numel`` elements as fp16; others unchanged.
    Keys that alias one tensor (a module registered twice) keep sharing one fp16 tensor, so
    the file stores it once. Raises when a value would overflow fp16 (|x| > 65504)."""
    out, done = {}, {}
    for key, value in state.items():
        if value.is_floating_point() and value.dtype != torch.float16 \
                and value.numel() >= min_numel:
            alias = (value.data_ptr(), value.dtype, tuple(value.shape), value.stride())
            if alias not in done:
                if value.abs().max().item() > torch.finfo(torch.float16).max:
                    raise ValueError(f'{key}: values beyond the fp16 range; keep it fp32')
                done[alias] = value.half()
            value = done[alias]
        out[key] = value
    return out


def collect_parts(
    parts: Sequence[Tuple[str, str, str]], drop: Iterable[str] = ()
) -> Tuple[Dict[str, torch.Tensor], dict]:
    """The keys of several training checkpoints under new prefixes, as one state dict.

    Args:
        parts: ``(checkpoint_path, src_prefix, dst_prefix)`` triples; the keys of each
            checkpoint under ``src_prefix`` are taken and renamed to start with
            ``dst_prefix``. A later part may not repeat a key of an earlier one.
        drop: Key prefixes (after renaming) left out.

    Returns:
        ``(state_dict, info)``; ``info`` has ``sources`` (file, SHA-256, prefixes, key count
        per part) and ``dataset_meta`` (of the first part that has one, else None).
    """
    state: Dict[str, torch.Tensor] = {}
    sources, dataset_meta = [], None
    for path, src, dst_prefix in parts:
        part_state, meta = read_state_dict(path)
        part = select_prefix(part_state, src, dst_prefix, drop)
        clash = sorted(set(part) & set(state))
        if clash:
            raise KeyError(f'{path} repeats keys of an earlier part: {clash[:5]}')
        state.update(part)
        if dataset_meta is None and meta.get('dataset_meta'):
            dataset_meta = meta['dataset_meta']
        sources.append(
            dict(
                file=osp.basename(path),
                sha256=file_sha256(path),
                prefix=src,
                stored_as=dst_prefix,
                keys=len(part)))
    return state, dict(sources=sources, dataset_meta=dataset_meta)


def complete_for_model(model: torch.nn.Module,
                       state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Load ``state`` into ``model`` and return the model's full state dict.

    Every key of ``state`` must be used, and every key of the model must be given, except
    keys that alias a given one (a submodule registered under two names, as a task adapter's
    ``feature_module``). Raises ``RuntimeError`` listing what is missing or left over.
    """
    result = model.load_state_dict(state, strict=False)
    own = model.state_dict(keep_vars=True)
    given = {own[k].data_ptr() for k in state if k in own and own[k].numel()}
    missing = [
        k for k in result.missing_keys if not (own[k].numel() and own[k].data_ptr() in given)
    ]
    if missing or result.unexpected_keys:
        raise RuntimeError(
            f'{len(missing)} keys of {type(model).__name__} missing (e.g. {missing[:3]}), '
            f'{len(result.unexpected_keys)} left over (e.g. {result.unexpected_keys[:3]})')
    return {k: v.detach() for k, v in model.state_dict().items()}


def save_packed(state: Dict[str, torch.Tensor],
                dst: str,
                info: dict,
                half: bool = False,
                extra_meta: Optional[dict] = None) -> Dict[str, torch.Tensor]:
    """Write ``{'state_dict', 'meta'}`` atomically to ``dst`` (fp16 for large tensors with
    ``half``); ``meta['cldyn_zoo']`` holds ``info['sources']``, the fp16 setting and
    ``extra_meta``; ``meta['dataset_meta']`` is ``info['dataset_meta']`` when set. Returns the
    state dict as stored."""
    if half:
        state = to_half(state)
    zoo = dict(
        sources=info.get('sources', []),
        fp16=bool(half),
        half_min_numel=HALF_MIN_NUMEL if half else None)
    zoo.update(extra_meta or {})
    meta = dict(cldyn_zoo=zoo)
    if info.get('dataset_meta') is not None:
        meta['dataset_meta'] = info['dataset_meta']
    os.makedirs(osp.dirname(osp.abspath(dst)), exist_ok=True)
    tmp = dst + '.tmp'
    torch.save(dict(state_dict=state, meta=meta), tmp)
    os.replace(tmp, dst)
    return state
