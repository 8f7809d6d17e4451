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
