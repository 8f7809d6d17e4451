"""Save / restore the global random states (python, numpy, torch CPU and CUDA).

The states are kept as plain Python values and tensors, so they survive MMEngine checkpoints
loaded with ``weights_only=True``.
"""
import contextlib
import random
from typing import Dict, Iterator

import numpy as np
import torch


def get_rng_state() -> Dict:
    """The current global random states."""
    np_state = np.random.get_state(legacy=False)
    state = dict(
        python=random.getstate(),
        numpy=dict(
            key=np_state['state']['key'].tolist(),
            pos=int(np_state['state']['pos']),
            has_gauss=int(np_state['has_gauss']),
            gauss=float(np_state['gauss'])),
        torch=torch.get_rng_state())
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict) -> None:
    """Restore states written by :func:`get_rng_state`."""
    py = state['python']
    random.setstate((py[0], tuple(py[1]), py[2]))
    np_state = state['numpy']
    np.random.set_state(
        dict(
            bit_generator='MT19937',
            state=dict(key=np.asarray(np_state['key'], dtype=np.uint32), pos=np_state['pos']),
            has_gauss=np_state['has_gauss'],
            gauss=np_state['gauss']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


@contextlib.contextmanager
def preserved_rng_state() -> Iterator[None]:
    """Run a block (e.g. validation) without changing the global random states."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
