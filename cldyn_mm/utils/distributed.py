"""Distributed training without GPUs: gloo process group and CPU-safe config for the Runner.

MMEngine's launchers (``--launcher pytorch|slurm|mpi``) assume GPUs: ``init_dist`` calls
``torch.cuda.set_device`` (fails on CPU-only torch), the Runner wraps the model in
``MMDistributedDataParallel(device_ids=[LOCAL_RANK])`` (invalid for CPU modules), and
``SyncBatchNorm`` only runs on GPUs. :func:`setup_cpu_distributed` (called by
``tools/train.py`` before ``Runner.from_cfg``) handles that when CUDA is not available:

* initialises ``torch.distributed`` with the gloo backend from the launcher's environment
  (torchrun: ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR``, ``MASTER_PORT``; slurm and Open MPI
  variables are translated as MMEngine does), so the Runner finds it initialised and skips its
  own ``init_dist``;
* sets ``env_cfg.dist_cfg.backend = 'gloo'``;
* without ``model_wrapper_cfg``: ``MMDistributedDataParallel`` with ``device_ids=None`` and
  ``broadcast_buffers=False`` (a DDP-type ``model_wrapper_cfg`` without ``device_ids`` gets
  ``device_ids=None``; other wrappers, e.g. the closed loop's ``ClosedLoopDistributedWrapper``,
  are left as they are);
* SyncBN -> BN: norm configs of type ``SyncBN`` / ``MMSyncBN`` / ``SyncBatchNorm`` in
  ``cfg.model`` become ``BN`` (same parameters and buffers, so checkpoints load either way),
  and ``cfg.sync_bn`` (MMEngine's BN -> SyncBN conversion) is dropped. Batch statistics are
  then per process, as with BN under DDP.

With CUDA available nothing is changed: MMEngine's normal NCCL path runs.
"""
import copy
import datetime
import os
import subprocess
from typing import Dict, List, Mapping, MutableMapping, Optional

import torch
import torch.distributed as torch_dist

__all__ = [
    'setup_cpu_distributed', 'adapt_cfg_for_cpu_distributed', 'revert_sync_bn_cfg', 'launcher_env',
    'init_cpu_dist', 'teardown_distributed', 'SYNC_BN_TYPES'
]

#: norm-layer types (with or without a scope prefix, e.g. ``mmseg.SyncBN``) that need GPUs
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN', 'SyncBatchNorm')
# arguments of the SyncBN classes that BatchNorm does not take
_SYNC_ONLY_ARGS = ('process_group', 'group', 'stats_mode')
_DDP_WRAPPERS = ('MMDistributedDataParallel', 'DistributedDataParallel')
CPU_DDP_WRAPPER = dict(type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False)


def _is_sync_bn(type_) -> bool:
    if isinstance(type_, str):
        return type_.rsplit('.', 1)[-1] in SYNC_BN_TYPES
    return isinstance(type_, type) and issubclass(type_, torch.nn.SyncBatchNorm)


def revert_sync_bn_cfg(cfg, path: str = 'model') -> List[str]:
    """Replace SyncBN norm configs by ``BN``, in place, anywhere in ``cfg`` (dicts, lists).

    Returns the dotted paths of the replaced configs (e.g.
    ``['model.backbone.norm_cfg']``). A scope prefix is kept (``mmseg.SyncBN`` ->
    ``mmseg.BN``); SyncBN-only arguments (``process_group``, ``group``, ``stats_mode``) are
    removed.
    """
    changed: List[str] = []
    if isinstance(cfg, MutableMapping):
        if _is_sync_bn(cfg.get('type')):
            type_ = cfg['type']
            prefix = type_.rsplit('.', 1)[0] + '.' if isinstance(type_, str) and '.' in type_ \
                else ''
            cfg['type'] = prefix + 'BN'
            for key in _SYNC_ONLY_ARGS:
                cfg.pop(key, None)
            changed.append(path)
        for key, value in cfg.items():
            changed += revert_sync_bn_cfg(value, f'{path}.{key}')
    elif isinstance(cfg, (list, tuple)):
        for i, value in enumerate(cfg):
            changed += revert_sync_bn_cfg(value, f'{path}[{i}]')
    return changed


def adapt_cfg_for_cpu_distributed(cfg) -> List[str]:
    """Make a Runner config run distributed on CPUs (gloo); in place. Returns what changed,
    one line each, for the log.

    ``env_cfg.dist_cfg.backend`` -> ``'gloo'``; ``model_wrapper_cfg`` -> the CPU-safe DDP
    wrapper when the config has none (``find_unused_parameters`` is taken from the config as
    MMEngine does), ``device_ids=None`` for a DDP-type wrapper that does not name them; SyncBN
    -> BN in ``cfg.model`` and ``cfg.sync_bn`` removed.
    """
    notes = []
    if cfg.get('env_cfg', None) is None:
        cfg['env_cfg'] = {}
    if cfg['env_cfg'].get('dist_cfg', None) is None:
        cfg['env_cfg']['dist_cfg'] = {}
    dist_cfg = cfg['env_cfg']['dist_cfg']  # (a ConfigDict stores a copy of what it is given)
    if dist_cfg.get('backend') != 'gloo':
        notes.append(f"env_cfg.dist_cfg.backend: {dist_cfg.get('backend')!r} -> 'gloo'")
        dist_cfg['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg', None)
    if wrapper is None:
        wrapper = copy.deepcopy(CPU_DDP_WRAPPER)
        if cfg.get('find_unused_parameters', None) is not None:
            wrapper['find_unused_parameters'] = cfg.get('find_unused_parameters')
        cfg['model_wrapper_cfg'] = wrapper
        notes.append(f'model_wrapper_cfg: {wrapper}')
    else:
        type_ = wrapper.get('type', 'MMDistributedDataParallel')  # MMEngine's default
        is_ddp = (
            type_ in _DDP_WRAPPERS if isinstance(type_, str) else isinstance(type_, type)
            and issubclass(type_, torch.nn.parallel.DistributedDataParallel))
        if is_ddp and 'device_ids' not in wrapper:
            wrapper['device_ids'] = None
            notes.append('model_wrapper_cfg.device_ids: None (CPU modules)')
    if cfg.get('sync_bn', None) is not None:
        notes.append(f"sync_bn={cfg.get('sync_bn')!r} dropped (SyncBN needs GPUs)")
        cfg['sync_bn'] = None
    if cfg.get('model', None) is not None:
        for path in revert_sync_bn_cfg(cfg['model']):
            notes.append(f'{path}: SyncBN -> BN')
    return notes


def launcher_env(launcher: str, environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` for
    ``launcher`` (``'pytorch'``, ``'slurm'``, ``'mpi'``) from ``environ`` (default
    ``os.environ``), the way MMEngine's ``init_dist`` reads them.

    pytorch (torchrun) sets all of them. slurm: ``SLURM_PROCID``, ``SLURM_NTASKS``,
    ``SLURM_LOCALID``; the master address is the first host of ``SLURM_NODELIST``
    (``scontrol show hostname``) unless ``MASTER_ADDR`` is set. mpi: ``OMPI_COMM_WORLD_*``
    and ``MASTER_ADDR`` (required). ``MASTER_PORT`` defaults to 29500.
    """
    env = os.environ if environ is None else environ

    def need(key):
        if key not in env:
            raise KeyError(f'--launcher {launcher}: the environment variable {key} is not set')
        return env[key]

    if launcher == 'pytorch':
        out = dict(
            RANK=need('RANK'),
            WORLD_SIZE=need('WORLD_SIZE'),
            LOCAL_RANK=env.get('LOCAL_RANK', '0'),
            MASTER_ADDR=need('MASTER_ADDR'))
    elif launcher == 'slurm':
        out = dict(
            RANK=need('SLURM_PROCID'),
            WORLD_SIZE=need('SLURM_NTASKS'),
            LOCAL_RANK=env.get('SLURM_LOCALID', '0'))
        if 'MASTER_ADDR' in env:
            out['MASTER_ADDR'] = env['MASTER_ADDR']
        else:
            nodes = need('SLURM_NODELIST')
            out['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {nodes} | head -n1').strip()
    elif launcher == 'mpi':
        out = dict(
            RANK=need('OMPI_COMM_WORLD_RANK'),
            WORLD_SIZE=need('OMPI_COMM_WORLD_SIZE'),
            LOCAL_RANK=env.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'),
            MASTER_ADDR=need('MASTER_ADDR'))
    else:
        raise ValueError(f"launcher must be 'pytorch', 'slurm' or 'mpi', got {launcher!r}")
    out['MASTER_PORT'] = str(env.get('MASTER_PORT', '29500'))
    return out


def init_cpu_dist(launcher: str, timeout: Optional[float] = None, **kwargs) -> None:
    """``torch.distributed.init_process_group('gloo')`` from the launcher's environment
    (:func:`launcher_env`, written back to ``os.environ``). ``timeout`` in seconds, as in
    ``env_cfg.dist_cfg``. No-op when a process group exists already."""
    if torch_dist.is_initialized():
        return
    env = launcher_env(launcher)
    os.environ.update(env)
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=timeout)
    torch_dist.init_process_group(
        backend='gloo',
        init_method='env://',
        rank=int(env['RANK']),
        world_size=int(env['WORLD_SIZE']),
        **kwargs)


def setup_cpu_distributed(cfg,
                          launcher: str,
                          cuda_available: Optional[bool] = None,
                          init: bool = True) -> List[str]:
    """Prepare a distributed CPU run (see the module docstring); call before
    ``Runner.from_cfg``.

    Does nothing (returns ``[]``) when ``launcher`` is ``'none'`` or CUDA is available
    (``cuda_available``, default ``torch.cuda.is_available()``): MMEngine then initialises
    NCCL itself. Otherwise adapts ``cfg`` in place (:func:`adapt_cfg_for_cpu_distributed`)
    and, with ``init``, initialises the gloo process group (the ``dist_cfg`` settings other
    than ``backend``, e.g. ``timeout``, are passed on). Returns the config changes.
    """
    if launcher in (None, 'none'):
        return []
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    if cuda_available:
        return []
    notes = adapt_cfg_for_cpu_distributed(cfg)
    if init:
        dist_cfg = dict(cfg['env_cfg']['dist_cfg'])
        dist_cfg.pop('backend', None)
        dist_cfg.pop('init_backend', None)
        init_cpu_dist(launcher, **dist_cfg)
    return notes


def teardown_distributed() -> None:
    """Destroy the default process group, if any, after a barrier (end of ``tools/train.py``).

    Without it a gloo process can abort at interpreter exit ("terminate called without an
    active exception", exit code -6) when its communication threads are torn down while the
    other ranks still finish, and torch warns about NCCL groups left undestroyed.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
