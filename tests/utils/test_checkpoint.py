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


def test_read_checkpoint_gives_state_and_meta_and_names_the_file_in_errors(tmp_path):
    """read_checkpoint: the one reader of weight files (fuser, VFN, task export, packing):
    MMEngine checkpoints with their logging state, bare state dicts, DDP's ``module.`` prefix,
    a key prefix; every refusal names the setting and the file."""
    from cldyn_mm.utils.checkpoint import read_checkpoint
    hub = MessageHub.get_instance('test_read_ckpt_hub')
    hub.update_scalar('train/loss', 1.0)
    full = tmp_path / 'full.pth'
    torch.save(
        dict(
            state_dict={
                'module.fuser.w': torch.ones(2),
                'module.head.b': torch.zeros(1)
            },
            message_hub=hub.state_dict(),
            meta=dict(dataset_meta=dict(classes=('person', )))), full)
    state, meta = read_checkpoint(str(full))
    assert set(state) == {'fuser.w', 'head.b'} and meta['dataset_meta']['classes'] == ('person', )
    state, _ = read_checkpoint(str(full), prefix='fuser.')
    assert list(state) == ['w'] and torch.equal(state['w'], torch.ones(2))
    bare = tmp_path / 'bare.pth'
    torch.save({'w': torch.ones(1)}, bare)
    assert read_checkpoint(str(bare)) == ({'w': torch.ones(1)}, {})

    with pytest.raises(FileNotFoundError, match='vfn_checkpoint not found: .*gone.pth'):
        read_checkpoint(str(tmp_path / 'gone.pth'), 'vfn_checkpoint')
    with pytest.raises(ValueError, match='fuser_checkpoint .*full.pth has no weights under'):
        read_checkpoint(str(full), 'fuser_checkpoint', prefix='rsc.')
    text = tmp_path / 'text.pth'
    text.write_text('not a checkpoint')
    with pytest.raises(ValueError, match='text.pth is not a checkpoint that loads safely'):
        read_checkpoint(str(text))
    unsafe = tmp_path / 'unsafe.pth'
    torch.save({'x': pickle.PickleError('not allowlisted')}, unsafe)
    with pytest.raises(ValueError, match='unsafe.pth is not a checkpoint that loads safely'):
        read_checkpoint(str(unsafe))
    numbers = tmp_path / 'numbers.pth'
    torch.save({'state_dict': {'w': 3}}, numbers)
    with pytest.raises(ValueError, match='numbers.pth holds no state dict of tensors'):
        read_checkpoint(str(numbers))
