"""cldyn_mm.utils.distributed: the CPU (gloo) distributed setup, as pure config / env logic."""
import pytest
from mmengine.config import Config

from cldyn_mm.utils.distributed import (CPU_DDP_WRAPPER, adapt_cfg_for_cpu_distributed,
                                        launcher_env, revert_sync_bn_cfg, setup_cpu_distributed)


def _cfg(**extra):
    return Config(
        dict(
            model=dict(
                type='EncoderDecoder',
                backbone=dict(type='ResNetV1c', norm_cfg=dict(type='SyncBN', requires_grad=True)),
                decode_head=[
                    dict(type='FCNHead', norm_cfg=dict(type='mmseg.SyncBN')),
                    dict(
                        type='FCNHead', norm_cfg=dict(type='MMSyncBN', group=None, stats_mode='N'))
                ],
                neck=dict(type='FPN', norm_cfg=dict(type='BN'))),
            env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)),
            **extra))


def test_none_launcher_or_cuda_leaves_config_alone():
    for launcher, cuda in (('none', False), ('pytorch', True), ('slurm', True)):
        cfg = _cfg()
        before = cfg.to_dict()
        assert setup_cpu_distributed(cfg, launcher, cuda_available=cuda) == []
        assert cfg.to_dict() == before


def test_cpu_ddp_config():
    cfg = _cfg(sync_bn='torch', find_unused_parameters=True)
    notes = setup_cpu_distributed(cfg, 'pytorch', cuda_available=False, init=False)
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    assert cfg.model_wrapper_cfg == dict(CPU_DDP_WRAPPER, find_unused_parameters=True)
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.sync_bn is None
    m = cfg.model
    assert m.backbone.norm_cfg == dict(type='BN', requires_grad=True)
    assert m.decode_head[0].norm_cfg == dict(type='mmseg.BN')
    assert m.decode_head[1].norm_cfg == dict(type='BN')  # group / stats_mode dropped
    assert m.neck.norm_cfg == dict(type='BN')
    assert any('model.backbone.norm_cfg' in n for n in notes)
    assert any('model.decode_head[1].norm_cfg' in n for n in notes)
    assert not any('neck' in n for n in notes)
    # idempotent
    assert adapt_cfg_for_cpu_distributed(cfg) == []


def test_custom_wrappers():
    # a non-DDP wrapper (the closed loop's) is kept as it is
    cfg = _cfg(model_wrapper_cfg=dict(type='ClosedLoopDistributedWrapper'))
    adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(type='ClosedLoopDistributedWrapper')
    # a DDP wrapper without device_ids gets None; explicit settings are kept
    cfg = _cfg(
        model_wrapper_cfg=dict(type='MMDistributedDataParallel', find_unused_parameters=True))
    adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel', find_unused_parameters=True, device_ids=None)
    cfg = _cfg(model_wrapper_cfg=dict(broadcast_buffers=True))  # MMEngine's default type
    adapt_cfg_for_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(broadcast_buffers=True, device_ids=None)


def test_missing_env_cfg_and_plain_dicts():
    cfg = dict(model=dict(type='X', norm_cfg=dict(type='SyncBN')))
    adapt_cfg_for_cpu_distributed(cfg)
    assert cfg['env_cfg'] == dict(dist_cfg=dict(backend='gloo'))
    assert cfg['model']['norm_cfg'] == dict(type='BN')
    assert revert_sync_bn_cfg([dict(type='SyncBatchNorm', process_group=None)]) == ['model[0]']


def test_launcher_env():
    torchrun = dict(
        RANK='1', WORLD_SIZE='2', LOCAL_RANK='1', MASTER_ADDR='127.0.0.1', MASTER_PORT='29600')
    assert launcher_env('pytorch', torchrun) == torchrun
    env = launcher_env('pytorch', dict(RANK='0', WORLD_SIZE='1', MASTER_ADDR='h'))
    assert env['MASTER_PORT'] == '29500' and env['LOCAL_RANK'] == '0'
    with pytest.raises(KeyError, match='WORLD_SIZE'):
        launcher_env('pytorch', dict(RANK='0', MASTER_ADDR='h'))
    slurm = launcher_env(
        'slurm',
        dict(
            SLURM_PROCID='3',
            SLURM_NTASKS='4',
            SLURM_LOCALID='1',
            SLURM_NODELIST='n[1-2]',
            MASTER_ADDR='n1'))
    assert slurm == dict(
        RANK='3', WORLD_SIZE='4', LOCAL_RANK='1', MASTER_ADDR='n1', MASTER_PORT='29500')
    mpi = launcher_env(
        'mpi',
        dict(
            OMPI_COMM_WORLD_RANK='2',
            OMPI_COMM_WORLD_SIZE='4',
            OMPI_COMM_WORLD_LOCAL_RANK='0',
            MASTER_ADDR='m',
            MASTER_PORT='1234'))
    assert mpi == dict(
        RANK='2', WORLD_SIZE='4', LOCAL_RANK='0', MASTER_ADDR='m', MASTER_PORT='1234')
    with pytest.raises(KeyError, match='MASTER_ADDR'):
        launcher_env('mpi', dict(OMPI_COMM_WORLD_RANK='0', OMPI_COMM_WORLD_SIZE='1'))
    with pytest.raises(ValueError):
        launcher_env('none', {})
