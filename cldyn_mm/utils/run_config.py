"""Config handling shared by tools/train.py and tools/test.py."""
import importlib.util
import os.path as osp
from typing import Optional

from mmengine.config import Config, DictAction  # noqa: F401  (DictAction re-exported)


def load_run_config(config: str,
                    work_dir: Optional[str] = None,
                    cfg_options: Optional[dict] = None,
                    launcher: str = 'none',
                    tensorboard: str = 'auto') -> Config:
    """Read a config, merge ``--cfg-options`` and set the work dir like mmdet's tools do.

    ``work_dir`` priority: argument > config's ``work_dir`` > ``./work_dirs/<config name>``.
    ``tensorboard='auto'`` adds a ``TensorboardVisBackend`` when the ``tensorboard`` package
    is importable; ``'on'`` requires it, ``'off'`` never adds it.
    """
    if not osp.isfile(config):
        raise FileNotFoundError(f'config file not found: {config}')
    cfg = Config.fromfile(config)
    cfg.launcher = launcher
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    if tensorboard not in ('auto', 'on', 'off'):
        raise ValueError(f"tensorboard must be 'auto', 'on' or 'off', got {tensorboard!r}")
    have_tb = importlib.util.find_spec('tensorboard') is not None
    if tensorboard == 'on' and not have_tb:
        raise ImportError('--tensorboard on: the tensorboard package is not installed '
                          '(pip install tensorboard)')
    if tensorboard != 'off' and have_tb and cfg.get('visualizer', None) is not None:
        backends = cfg.visualizer.setdefault('vis_backends', [])
        if not any(b.get('type') == 'TensorboardVisBackend' for b in backends):
            backends.append(dict(type='TensorboardVisBackend'))
    return cfg


# ---------------------------------------------------------------------------- config edits
def rescale_pipelines(node, factor: float, _seen: Optional[set] = None) -> None:
    """Multiply ``scale`` / ``crop_size`` of every transform of every ``pipeline`` under
    ``node`` (a config, or part of one) by ``factor``, in place. Used to run a config at a
    smaller image size (the demo pipeline, tests) without restating its pipelines. A pipeline
    reached twice (``test_dataloader = val_dataloader`` shares it) is scaled once."""
    seen = set() if _seen is None else _seen
    if isinstance(node, dict):
        pipeline = node.get('pipeline')
        if isinstance(pipeline, list) and id(pipeline) not in seen:
            seen.add(id(pipeline))
            for t in pipeline:
                if not isinstance(t, dict) or id(t) in seen:
                    continue
                seen.add(id(t))
                for key in ('scale', 'crop_size'):
                    if isinstance(t.get(key), (tuple, list)):
                        t[key] = tuple(max(1, int(round(v * factor))) for v in t[key])
        for value in node.values():
            rescale_pipelines(value, factor, seen)
    elif isinstance(node, (list, tuple)):
        for value in node:
            rescale_pipelines(value, factor, seen)


def main_process_loaders(node) -> None:
    """``num_workers=0`` (no worker processes) in every dataloader config under ``node``."""
    if isinstance(node, dict):
        if 'dataset' in node and 'batch_size' in node:
            node['num_workers'] = 0
            node['persistent_workers'] = False
        for value in node.values():
            main_process_loaders(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            main_process_loaders(value)


def set_data_root(node, root: str) -> None:
    """Set every ``data_root`` under ``node`` to ``root``."""
    if isinstance(node, dict):
        if 'data_root' in node:
            node['data_root'] = root
        for value in node.values():
            set_data_root(value, root)
    elif isinstance(node, (list, tuple)):
        for value in node:
            set_data_root(value, root)


def limit_datasets(node, n: int) -> None:
    """``indices=n`` (the first n samples) for every dataset config under ``node``."""
    if isinstance(node, dict):
        if 'pipeline' in node and 'type' in node:
            node['indices'] = n
        for value in node.values():
            limit_datasets(value, n)
    elif isinstance(node, (list, tuple)):
        for value in node:
            limit_datasets(value, n)
