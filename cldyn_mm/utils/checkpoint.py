"""Safe loading of MMEngine checkpoints with torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default: only tensors, containers and an
allowlist of classes may be unpickled. MMEngine 0.10.7's checkpoints also hold its
``HistoryBuffer`` (the logged scalars kept for resuming) and the numpy arrays and scalars inside
it, so ``load_from`` / ``resume`` fail with "Unsupported global". A ``HistoryBuffer`` also
pickles its statistics methods as ``getattr(HistoryBuffer, 'mean')``, so the pickle names the
builtin ``getattr``, which must never be allowlisted as such (``getattr`` on an allowed class
reaches methods that write files). Instead of turning safe loading off, cldyn_mm adds exactly
those harmless classes to torch's allowlist, and in place of ``builtins.getattr`` a function
that only looks up the public statistics methods of ``HistoryBuffer`` and refuses anything
else. A checkpoint
that needs anything else is still refused by torch; loading it requires the explicit opt-in
:func:`trusted_load` (``--trust-checkpoint`` in the tools), which names the file in a warning.
"""
import os.path as osp
import pickle
import warnings
from typing import Dict, Optional, Tuple

import numpy as np
import torch

_DONE = False


def _numpy_safe_globals() -> list:
    items = [np.ndarray, np.dtype]
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    items += [_reconstruct, scalar]
    # dtype classes (numpy.dtypes.Float64DType, ...) and scalar types used by np.float64(...)
    for name in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32', 'int64', 'uint8',
                 'uint16', 'uint32', 'uint64', 'bool_'):
        sctype = getattr(np, name)
        items.append(sctype)
        items.append(type(np.dtype(sctype)))
    return items


def _history_buffer_getattr(obj, name: str):
    """``getattr`` for unpickling, restricted to ``HistoryBuffer``'s statistics methods."""
    from mmengine.logging.history_buffer import HistoryBuffer
    if (obj is HistoryBuffer and isinstance(name, str) and not name.startswith('_')
            and callable(getattr(HistoryBuffer, name, None))):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refused getattr({obj!r}, {name!r}) while loading a checkpoint safely: only the '
        'statistics methods of MMEngine\'s HistoryBuffer may be looked up (use '
        '--trust-checkpoint only for a file you made or trust)')


def allow_mmengine_checkpoints() -> None:
    """Allowlist MMEngine's ``HistoryBuffer`` and numpy arrays/scalars for safe loading.

    Idempotent. Does nothing on a torch without ``add_safe_globals`` (< 2.4), where the
    default was never ``weights_only=True``.
    """
    global _DONE
    if _DONE or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    from mmengine.logging.history_buffer import HistoryBuffer
    torch.serialization.add_safe_globals(
        [HistoryBuffer, *_numpy_safe_globals(), (_history_buffer_getattr, 'builtins.getattr')])
    _DONE = True


def trusted_load(path: str, map_location='cpu'):
    """Load a checkpoint with full unpickling. Only for files the user said to trust.

    Unpickling can run arbitrary code; the tools only call this with ``--trust-checkpoint``.
    """
    warnings.warn(f'Loading {path} with weights_only=False because it was marked as trusted '
                  '(--trust-checkpoint). Never do this with a file from an unknown source.')
    return torch.load(path, map_location=map_location, weights_only=False)


def trust_checkpoints_globally() -> None:
    """Make MMEngine's own loading (``load_from``, ``resume``) unpickle fully.

    Used by the tools for ``--trust-checkpoint`` only: it sets torch's documented switch
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` for this process.
    """
    import os
    warnings.warn('--trust-checkpoint: checkpoints are loaded with weights_only=False in this '
                  'run. Only use it for files you made or trust.')
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'


def read_checkpoint(path: str,
                    what: str = 'checkpoint',
                    prefix: Optional[str] = None) -> Tuple[Dict[str, torch.Tensor], dict]:
    """``(state_dict, meta)`` of an MMEngine checkpoint or a bare state dict, loaded safely.

    The one way this project reads weights from a file: ``weights_only=True`` with MMEngine's
    logging classes allowlisted (:func:`allow_mmengine_checkpoints`); a ``module.`` prefix
    (DDP) is removed; with ``prefix`` only the keys under it are kept, without it.

    Args:
        path (str): The checkpoint file.
        what (str): What the file is for, named in errors (e.g. ``'vfn_checkpoint'``).
        prefix (str, optional): Keep only the keys starting with it (stripped).

    Returns:
        tuple: ``state_dict`` (str -> Tensor) and ``meta`` (the checkpoint's ``meta`` dict,
        empty when it has none).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a checkpoint that loads safely, no state dict of tensors, or nothing
            under ``prefix``.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    allow_mmengine_checkpoints()
    try:
        ckpt = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a bad file
        raise ValueError(f'{what} {path} is not a checkpoint that loads safely '
                         f'(weights_only=True): {e}') from e
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not state or \
            not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f'{what} {path} holds no state dict of tensors')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise ValueError(f'{what} {path} has no weights under {prefix!r}')
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return state, meta if isinstance(meta, dict) else {}
