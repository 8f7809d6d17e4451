"""Safe checkpoint loading with torch >= 2.6: MMEngine's own checkpoints load, nothing else."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from cldyn_mm.utils.checkpoint import allow_mmengine_checkpoints


def test_message_hub_state_loads_with_weights_only(tmp_path):
    allow_mmengine_checkpoints()
    hub = MessageHub.get_instance('test_ckpt_hub')
    for v in (1.0, 2.0, 4.0):
        hub.update_scalar('train/loss', v)
    path = tmp_path / 'ckpt.pth'
    torch.save(
        {
            'state_dict': {
                'w': torch.ones(2)
            },
            'message_hub': hub.state_dict(),
            'meta': {
                'seed': np.int64(3)
            }
        }, path)
    ckpt = torch.load(path, weights_only=True)
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(7 / 3) and buf.current() == 4.0
    assert ckpt['meta']['seed'] == 3


class _ReachesAMethodThatWritesFiles:

    def __reduce__(self):
        return getattr, (np.ndarray, 'tofile')


class _ReachesAHistoryBufferInternal:

    def __reduce__(self):
        return getattr, (HistoryBuffer, '__init__')


@pytest.mark.parametrize('payload',
                         [_ReachesAMethodThatWritesFiles(),
                          _ReachesAHistoryBufferInternal()])
def test_getattr_beyond_history_buffer_statistics_is_refused(tmp_path, payload):
    allow_mmengine_checkpoints()
    path = tmp_path / 'evil.pth'
    torch.save({'x': payload}, path)
    with pytest.raises(pickle.UnpicklingError, match='refused getattr'):
        torch.load(path, weights_only=True)


def test_unknown_class_is_still_refused(tmp_path):
    allow_mmengine_checkpoints()
    path = tmp_path / 'other.pth'
    torch.save({'x': pickle.PickleError('not allowlisted')}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
