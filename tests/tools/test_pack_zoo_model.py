"""tools/model_converters/pack_zoo_model.py: training checkpoints -> one shipped weight file that
its config loads strictly; fp16 storage of large tensors; clear one-line errors."""
import importlib.util
from pathlib import Path

import pytest
import torch

from cldyn_mm.model_zoo.packing import HALF_MIN_NUMEL, read_state_dict

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / 'tools' / 'model_converters' / 'pack_zoo_model.py'
VFN_CONFIG = REPO / 'configs' / 'vfn' / 'vfn_1xb8-200_demo.py'
DET_CONFIG = REPO / 'configs' / 'fused_task' / 'rtmdet-tiny_fused-eval_demo.py'


def load_tool():
    spec = importlib.util.spec_from_file_location('pack_zoo_model', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return load_tool()


def save_model_checkpoint(tool, config, path, prefix='', **overrides):
    """A training-style checkpoint (state_dict under `prefix`, plus optimizer and meta) of the
    model `config` builds with random weights."""
    torch.manual_seed(0)
    model = tool.build_for_check(str(config))
    state = {prefix + k: v for k, v in model.state_dict().items()}
    state.update(overrides)
    torch.save(
        dict(
            state_dict=state,
            optimizer=dict(state={}),
            meta=dict(iter=7, dataset_meta=dict(classes=('person', 'bicycle', 'car')))), path)
    return model


def test_vfn_checkpoint_packs_and_loads_strictly(tool, tmp_path, capsys):
    model = save_model_checkpoint(tool, VFN_CONFIG, tmp_path / 'iter_7.pth')
    out = tmp_path / 'zoo' / 'vfn.pth'
    assert tool.cli([str(VFN_CONFIG), '--part',
                     str(tmp_path / 'iter_7.pth'), '--out',
                     str(out)]) == 0
    assert 'sha256' in capsys.readouterr().out
    state, meta = read_state_dict(str(out))
    ref = model.state_dict()
    assert state.keys() == ref.keys()
    assert all(torch.equal(state[k], ref[k]) for k in ref)
    assert meta['dataset_meta']['classes'] == ('person', 'bicycle', 'car')
    assert meta['cldyn_zoo']['sources'][0]['file'] == 'iter_7.pth'
    assert not meta['cldyn_zoo']['fp16']
    raw = torch.load(out, weights_only=True)
    assert set(raw) == {'state_dict', 'meta'}  # no optimizer state shipped


def test_parts_are_combined_under_new_prefixes_and_stored_half(tool, tmp_path):
    # a fused detector (CLDyN fuser + RTMDet-tiny) assembled from two runs, as for the zoo:
    # the detector from a trainer checkpoint (adapter.model.*), the fuser from a closed loop
    model = save_model_checkpoint(tool, DET_CONFIG, tmp_path / 'whole.pth')
    whole = model.state_dict()
    # the trainer checkpoint has no adapter.feature_module.* (an alias of a submodule of
    # adapter.model): the packed file gets them from the model, sharing storage
    torch.save(
        dict(state_dict={
            k: v
            for k, v in whole.items() if k.startswith('adapter.model.')
        }), tmp_path / 'det.pth')
    torch.save(
        dict(state_dict={
            'fuser.' + k[len('fuser.'):]: v
            for k, v in whole.items() if k.startswith('fuser.')
        } | {'tasks.det.x': torch.zeros(1)}), tmp_path / 'cl.pth')
    out = tmp_path / 'cldyn_det.pth'
    assert tool.cli([
        str(DET_CONFIG), '--part', f'{tmp_path / "det.pth"}:adapter.model.', '--part',
        f'{tmp_path / "cl.pth"}:fuser.', '--out',
        str(out), '--half'
    ]) == 0
    state, meta = read_state_dict(str(out))
    assert state.keys() == whole.keys()  # tasks.* of the closed loop left out
    assert any(k.startswith('adapter.feature_module.') for k in state)
    for key, value in state.items():
        if whole[key].is_floating_point() and whole[key].numel() >= HALF_MIN_NUMEL:
            assert value.dtype == torch.float16, key
            assert torch.allclose(value.float(), whole[key], rtol=1e-3, atol=1e-4)
        else:
            assert value.dtype == whole[key].dtype and torch.equal(value, whole[key]), key
    assert meta['cldyn_zoo']['fp16'] and len(meta['cldyn_zoo']['sources']) == 2
    assert out.stat().st_size < 0.6 * (tmp_path / 'whole.pth').stat().st_size


def one_error_line(capsys, *needles):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('pack_zoo_model.py: error:'), err
    for n in needles:
        assert n in err[0], err[0]


def test_mistakes_end_with_one_line_and_keep_no_file(tool, tmp_path, capsys):
    save_model_checkpoint(tool, VFN_CONFIG, tmp_path / 'v.pth')
    out = tmp_path / 'o.pth'
    assert tool.cli([str(VFN_CONFIG), '--part', str(tmp_path / 'none.pth'), '--out', str(out)]) == 1
    one_error_line(capsys, 'none.pth')
    assert tool.cli(
        [str(VFN_CONFIG), '--part', f'{tmp_path / "v.pth"}:nothing.', '--out',
         str(out)]) == 1
    one_error_line(capsys, "'nothing.'")
    # keys that do not fit the config: refused, nothing written
    assert tool.cli([str(DET_CONFIG), '--part', str(tmp_path / 'v.pth'), '--out', str(out)]) == 1
    one_error_line(capsys, 'do not fit', 'rtmdet-tiny_fused-eval_demo.py', 'missing', 'left over')
    assert not out.exists()
    # a part that lacks weights of the model (here: the whole fuser) is refused too
    assert tool.cli(
        [str(VFN_CONFIG), '--part', f'{tmp_path / "v.pth"}:fusion_net.decoder.', '--out',
         str(out)]) == 1
    one_error_line(capsys, 'missing', 'fusion_net.')
    assert not out.exists()
    (tmp_path / 'junk.pth').write_bytes(b'not a checkpoint')
    assert tool.cli([str(VFN_CONFIG), '--part', str(tmp_path / 'junk.pth'), '--out', str(out)]) == 1
    one_error_line(capsys, 'junk.pth')
    assert tool.cli(
        [str(tmp_path / 'nope.py'), '--part',
         str(tmp_path / 'v.pth'), '--out',
         str(out)]) == 1
    one_error_line(capsys, 'nope.py')
