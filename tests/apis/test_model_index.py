"""The model index: names -> (config, weights), relative paths, clear errors."""
import os.path as osp

import pytest

from cldyn_mm.apis import (UnknownModelError, get_model_info, list_models, load_model_index,
                           resolve_model)
from cldyn_mm.apis.model_index import DEFAULT_INDEX, REPO_ROOT

CONFIG = 'configs/vfn/vfn_1xb8-200_demo.py'


def write_index(root, models, collections=True):
    """A model-index.yml in ``root`` importing one metafile with ``models`` (list of YAML
    snippets, one per model)."""
    (root / 'meta').mkdir(exist_ok=True)
    body = ['Collections:', '  - Name: VFN'] if collections else []
    body.append('Models:' + ('' if models else ' []'))
    for m in models:
        body += ['  - ' + m.strip().replace('\n', '\n    ')]
    (root / 'meta' / 'metafile.yml').write_text('\n'.join(body) + '\n')
    (root / 'model-index.yml').write_text('Import:\n  - meta/metafile.yml\n')
    return str(root / 'model-index.yml')


def _sub(root, name):
    (root / name).mkdir()
    return root / name


def test_shipped_index_lists_its_metafiles():
    assert DEFAULT_INDEX == osp.join(REPO_ROOT, 'model-index.yml')
    assert osp.isfile(DEFAULT_INDEX)
    for rel in ('configs/vfn/metafile.yml', 'configs/cldyn/metafile.yml'):
        assert osp.isfile(osp.join(REPO_ROOT, rel))
    assert isinstance(list_models(), list)  # no trained model ships yet: may be empty


def test_names_resolve_relative_to_the_index(tmp_path):
    (tmp_path / 'configs').mkdir()
    (tmp_path / 'configs' / 'a.py').write_text('model = dict(type="VFNFuser")\n')
    (tmp_path / 'w').mkdir()
    (tmp_path / 'w' / 'a.pth').write_bytes(b'x')
    absolute = tmp_path / 'b.pth'
    absolute.write_bytes(b'x')
    index = write_index(tmp_path, [
        """Name: vfn_tiny
Alias: [tiny]
In Collection: VFN
Config: configs/a.py
Metadata: {Training Data: [demo], Iterations: 2, Training Resources: 1x CPU}
Results:
  - {Task: Image Fusion, Dataset: demo, Metrics: {EN: 6.5}}
Weights: w/a.pth""", f"""Name: other
Config: configs/a.py
Weights: [{absolute}]"""
    ])
    assert list_models(index) == ['vfn_tiny', 'other']
    assert list_models(index, aliases=True) == ['vfn_tiny', 'tiny', 'other']
    cfg, weights = resolve_model('vfn_tiny', index)
    assert cfg == str(tmp_path / 'configs' / 'a.py') and weights == str(tmp_path / 'w' / 'a.pth')
    assert resolve_model('TINY', index) == (cfg, weights)  # alias, case-insensitive
    assert resolve_model('other', index)[1] == str(absolute)
    info = get_model_info('vfn_tiny', index)
    assert info['Results'][0]['Metrics']['EN'] == 6.5
    assert info['Metafile'] == str(tmp_path / 'meta' / 'metafile.yml')
    assert len(load_model_index(index)) == 2


def test_index_from_environment(tmp_path, monkeypatch):
    index = write_index(tmp_path, ['Name: m\nConfig: c.py\nWeights: w.pth'])
    monkeypatch.setenv('CLDYN_MODEL_INDEX', index)
    assert list_models() == ['m']


def test_errors_name_the_problem(tmp_path):
    index = write_index(tmp_path, [
        'Name: vfn_ivif\nConfig: c.py\nWeights: w.pth',
        'Name: cldyn_msrs_det\nConfig: c.py\nWeights: w.pth'
    ])
    with pytest.raises(
            UnknownModelError,
            match=r"'vfn_ivf' is not in the model index .*"
            r"known: vfn_ivif, cldyn_msrs_det.*did you mean vfn_ivif"):
        resolve_model('vfn_ivf', index)
    with pytest.raises(
            FileNotFoundError,
            match=r'config of model .vfn_ivif. not found: .*c\.py'
            r' \(listed in .*metafile\.yml\)'):
        resolve_model('vfn_ivif', index)
    (tmp_path / 'c.py').write_text('')
    with pytest.raises(FileNotFoundError, match=r'weights of model .vfn_ivif. not found: .*w\.pth'):
        resolve_model('vfn_ivif', index)
    assert resolve_model('vfn_ivif', index, check_files=False)[1] == str(tmp_path / 'w.pth')

    empty = write_index(_sub(tmp_path, 'e'), [])
    with pytest.raises(UnknownModelError, match='lists no models yet; give a config file'):
        resolve_model('vfn_ivif', empty)
    with pytest.raises(FileNotFoundError, match='model index not found'):
        list_models(str(tmp_path / 'nope.yml'))
    bad = write_index(_sub(tmp_path, 'b'), ['Name: x\nConfig: c.py'])
    with pytest.raises(ValueError, match='model entry 0 lacks Weights'):
        list_models(bad)
    dup = write_index(
        _sub(tmp_path, 'd'),
        ['Name: x\nConfig: c.py\nWeights: w', 'Name: y\nAlias: X\nConfig: c.py\n'
         'Weights: w'])
    with pytest.raises(ValueError, match="'X' appears twice"):
        list_models(dup)
    (tmp_path / 'model-index.yml').write_text('Import:\n  - missing.yml\n')
    with pytest.raises(FileNotFoundError, match=r'metafile \(imported by .*\) not found'):
        list_models(str(tmp_path / 'model-index.yml'))
