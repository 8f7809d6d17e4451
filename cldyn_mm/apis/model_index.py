"""The model index: named models (config + weights) in OpenMMLab's metafile format.

``model-index.yml`` at the repository root lists per-algorithm metafiles under ``Import``;
each metafile has ``Collections`` and ``Models`` entries::

    Models:
      - Name: vfn_ivif
        Alias: [vfn]                       # optional
        In Collection: VFN
        Config: configs/vfn/vfn_1xb8-2k_ivifmix.py
        Metadata: {Training Data: [...], Iterations: 4000, Training Resources: 1x H200}
        Results: [{Task: Image Fusion, Dataset: MSRS, Metrics: {EN: ..., Qabf: ...}}]
        Weights: cldyn_mm/model_zoo/weights/vfn_ivif.pth

Relative ``Config`` / ``Weights`` paths (and the ``Import`` paths) are relative to the folder
of the index file; for the default index that is the repository root, the parent folder of the
``cldyn_mm`` package (a checkout or an editable install). Shipped weights are package data
under ``cldyn_mm/model_zoo/weights/``. ``http(s)://`` weights are returned unchanged.

MMEngine's ``BaseInferencer._load_model_from_metafile`` only serves scopes registered in
``mmengine.config.utils.MODULE2PACKAGE`` (OpenMMLab's own packages), so ``cldyn_mm`` resolves
names here and hands config + weights to the inferencer.
"""
import difflib
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple

PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
REPO_ROOT = osp.dirname(PACKAGE_DIR)
#: the model index of a checkout; ``CLDYN_MODEL_INDEX`` names another one
DEFAULT_INDEX = osp.join(REPO_ROOT, 'model-index.yml')


class UnknownModelError(ValueError):
    """A model name that the index does not list."""


def index_path(index: Optional[str] = None) -> str:
    """The index file to read: ``index``, else ``$CLDYN_MODEL_INDEX``, else the checkout's."""
    return osp.abspath(index or os.environ.get('CLDYN_MODEL_INDEX') or DEFAULT_INDEX)


def _load_yaml(path: str, what: str):
    from mmengine.fileio import load
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what} not found: {path}')
    try:
        data = load(path, file_format='yaml')
    except Exception as e:  # noqa: BLE001 - yaml errors have many types
        raise ValueError(f'{what} {path} is not valid YAML: {e}') from e
    if not isinstance(data, dict):
        raise ValueError(f'{what} {path} must hold a mapping, got {type(data).__name__}')
    return data


def _resolve(root: str, path: str) -> str:
    if path.startswith(('http://', 'https://')) or osp.isabs(path):
        return path
    return osp.normpath(osp.join(root, path))


def load_model_index(index: Optional[str] = None) -> List[dict]:
    """All ``Models`` entries of the index, in index order, with absolute paths.

    Each entry is the metafile's dict plus ``Metafile`` (its path); ``Config`` and ``Weights``
    are resolved against the index's folder. Raises for a missing / malformed file, an entry
    without ``Name`` / ``Config`` / ``Weights``, and a name given twice.
    """
    path = index_path(index)
    root = osp.dirname(path)
    imports = _load_yaml(path, 'model index').get('Import') or []
    if not isinstance(imports, list):
        raise ValueError(f'model index {path}: Import must be a list of metafile paths')
    models: List[dict] = []
    seen: Dict[str, str] = {}
    for rel in imports:
        meta_path = _resolve(root, str(rel))
        entries = _load_yaml(meta_path, f'metafile (imported by {path})').get('Models') or []
        if not isinstance(entries, list):
            raise ValueError(f'metafile {meta_path}: Models must be a list')
        for k, entry in enumerate(entries):
            missing = [
                key for key in ('Name', 'Config', 'Weights')
                if not isinstance(entry, dict) or not entry.get(key)
            ]
            if missing:
                raise ValueError(f'metafile {meta_path}: model entry {k} lacks '
                                 f'{", ".join(missing)}')
            for name in [entry['Name'], *_aliases(entry)]:
                if name.lower() in seen:
                    raise ValueError(f'model name {name!r} appears twice in the model index '
                                     f'({seen[name.lower()]} and {meta_path})')
                seen[name.lower()] = meta_path
            weights = entry['Weights']
            weights = weights[0] if isinstance(weights, list) else weights
            models.append(
                dict(
                    entry,
                    Config=_resolve(root, str(entry['Config'])),
                    Weights=_resolve(root, str(weights)),
                    Metafile=meta_path))
    return models


def _aliases(entry: dict) -> List[str]:
    alias = entry.get('Alias') or []
    return [alias] if isinstance(alias, str) else list(alias)


def list_models(index: Optional[str] = None, aliases: bool = False) -> List[str]:
    """Names of the indexed models (index order); with ``aliases`` their aliases too."""
    names = []
    for entry in load_model_index(index):
        names.append(entry['Name'])
        if aliases:
            names += _aliases(entry)
    return names


def get_model_info(name: str, index: Optional[str] = None) -> dict:
    """The index entry of ``name`` (or an alias; case-insensitive), paths absolute.

    Raises :class:`UnknownModelError` naming the index, the known names and close matches.
    """
    models = load_model_index(index)
    wanted = name.lower()
    for entry in models:
        if wanted in [n.lower() for n in [entry['Name'], *_aliases(entry)]]:
            return entry
    known = [n for e in models for n in [e['Name'], *_aliases(e)]]
    if not known:
        raise UnknownModelError(f'model {name!r} is not in the model index {index_path(index)}, '
                                'which lists no models yet; give a config file and a '
                                'checkpoint instead')
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f'; did you mean {", ".join(close)}?' if close else ''
    raise UnknownModelError(f'model {name!r} is not in the model index {index_path(index)} '
                            f'(known: {", ".join(known)}){hint}')


def resolve_model(name: str,
                  index: Optional[str] = None,
                  check_files: bool = True) -> Tuple[str, str]:
    """``(config_path, weights_path)`` of an indexed model, both absolute.

    With ``check_files`` a missing config or weights file raises ``FileNotFoundError`` naming
    the file and the metafile (URLs are not checked).
    """
    entry = get_model_info(name, index)
    config, weights = entry['Config'], entry['Weights']
    if check_files:
        for what, path in (('config', config), ('weights', weights)):
            if not path.startswith(('http://', 'https://')) and not osp.isfile(path):
                raise FileNotFoundError(f'{what} of model {entry["Name"]!r} not found: {path} '
                                        f'(listed in {entry["Metafile"]})')
    return config, weights
