"""Every model of the shipped model index resolves to files of the checkout, and its weight
file loads strictly into the model its config builds (what FusionInferencer / tools/fuse.py
load). Parametrized over the index, so a model added to a metafile is checked at once."""
import importlib.util
from pathlib import Path

import pytest
import torch

from cldyn_mm.apis import list_models, resolve_model
from cldyn_mm.apis.model_index import REPO_ROOT
from cldyn_mm.model_zoo import WEIGHTS_DIR
from cldyn_mm.model_zoo.packing import read_state_dict
from cldyn_mm.models.fusion.layers import upgrade_legacy_keys

TOOL = Path(REPO_ROOT) / 'tools' / 'model_converters' / 'pack_zoo_model.py'


def _build(config):
    spec = importlib.util.spec_from_file_location('pack_zoo_model', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_for_check(config)  # every build-time checkpoint path cleared


@pytest.mark.parametrize('name', list_models())
def test_shipped_weights_load_strictly(name):
    config, weights = resolve_model(name)  # raises when a file is missing
    assert Path(weights).resolve().parent == Path(WEIGHTS_DIR).resolve(), \
        f'{name}: shipped weights belong in {WEIGHTS_DIR} (package data)'
    assert Path(config).resolve().is_relative_to(Path(REPO_ROOT) / 'configs')
    model = _build(config)
    state, meta = read_state_dict(weights)
    model.load_state_dict(state, strict=True)  # fp16 tensors load with a cast
    # stored in the current key layout (old layouts would load too, renamed on the fly)
    assert list(upgrade_legacy_keys(model, state)) == list(state), \
        f'{name}: keys of the pre-ConvModule layout'
    for key, value in model.state_dict().items():
        assert torch.isfinite(value.float()).all(), f'{name}: {key} is not finite'
    assert 'cldyn_zoo' in meta, f'{name}: not made by tools/model_converters/pack_zoo_model.py'


def test_shipped_weight_files_are_all_indexed_and_small():
    indexed = {Path(resolve_model(n, check_files=False)[1]).name for n in list_models()}
    files = {p.name for p in Path(WEIGHTS_DIR).glob('*.pth')}
    assert files == indexed, 'weight files and the model index disagree'
    total = sum(p.stat().st_size for p in Path(WEIGHTS_DIR).glob('*.pth'))
    assert total < 60 * 2**20, f'shipped weights take {total / 2**20:.1f} MiB'


def test_every_algorithm_folder_has_a_readme_that_its_metafile_names():
    import yaml
    index = yaml.safe_load((Path(REPO_ROOT) / 'model-index.yml').read_text())
    for entry in index['Import']:
        metafile = Path(REPO_ROOT) / entry
        for collection in yaml.safe_load(metafile.read_text())['Collections']:
            readme = Path(REPO_ROOT) / collection['README']
            assert readme.parent == metafile.parent, f'{metafile}: README outside its folder'
            text = readme.read_text()
            for section in ('## Results', '## Citation', 'tools/train.py'):
                assert section in text, f'{readme}: no {section!r}'
