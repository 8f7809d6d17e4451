"""Distributed closed loop on CPUs: ``tools/dist_train.sh`` with 2 gloo processes reaches the
parameters of one process that accumulates the same micro-batches.

Both runs train the one-task (SOD) closed loop of ``configs/_base_/closed_loop/sod_task.py``
on 6 generated 64 x 64 demo pairs, with a deterministic RSC (``gumbel_noise=False``), no
augmentation and unshuffled samplers:

* distributed: 2 processes, batch 1 per rank, 3 iterations. With ``shuffle=False`` rank r
  reads samples r, r + 2, ..., so iteration i uses samples 2i (rank 0) and 2i + 1 (rank 1);
  each task gradient is all-reduced (mean over ranks) before CAGrad, clipping and Adam.
* reference: 1 process, batch 1, ``optim_wrapper.accumulative_counts=2``, 6 iterations:
  iterations 2i and 2i + 1 use the same samples 2i and 2i + 1, each loss scaled by 1/2 and
  the task gradients summed before the update -- the same mean gradient.

The reference is gradient accumulation over the same micro-batches, not one batch of 2: the
RSC's BatchNorm layers normalise with the statistics of each process's own batch (BN, not
SyncBN, as under DDP), so a batch of 2 on one process would normalise differently. (Running
statistics also differ -- each rank only sees its own samples -- and are not compared.)

The trained RSC + bank parameters of the two last checkpoints must agree within 1e-5 (they
agree exactly: halving is exact in floating point); they must also have moved away from the
initial parameters, so the comparison is not trivially true.
"""
import os
import os.path as osp
import socket
import subprocess
import sys
import time

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TRAINED = ('fuser.rsc_ir.', 'fuser.rsc_vis.', 'fuser.bank.')
BN_STATS = ('running_mean', 'running_var', 'num_batches_tracked')
TOL = 1e-5

CONFIG = """
_base_ = [{base!r}]
data_root = {data_root!r}
pipeline = [
    dict(type='LoadIRVisPair'),
    dict(type='LoadPairedSegAnnotations'),
    dict(type='PackPairedSegInputs'),
]
train_dataloader = dict(sod=dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='DemoSODDataset', data_root=data_root, ann_file='splits/train.txt',
                 pipeline=pipeline)))
train_cfg = dict(max_iters=3, val_interval=1000)
val_cfg = None
val_dataloader = None
val_evaluator = None
test_cfg = None
test_dataloader = None
test_evaluator = None
default_hooks = dict(
    _delete_=True,
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1000, by_epoch=False),
    sampler_seed=dict(type='DistSamplerSeedHook'))
model = dict(fuser=dict(rsc=dict(gumbel_noise=False)))
visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _start(cmd, log_path, env):
    log = open(log_path, 'w')
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    return proc, log, log_path, cmd


def _wait(job):
    proc, log, log_path, cmd = job
    try:
        rc = proc.wait(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    if rc != 0:
        with open(log_path) as f:
            tail = f.read()[-6000:]
        pytest.fail(f'{" ".join(map(str, cmd))} exited with {rc}:\n{tail}')


def _trained(state_dict):
    return {
        k: v.float()
        for k, v in state_dict.items() if k.startswith(TRAINED) and not k.endswith(BN_STATS)
    }


def _load(path):
    return torch.load(path, map_location='cpu', weights_only=False)['state_dict']


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from cldyn_mm.testing.demo_data import generate_demo_dataset
    root = tmp_path_factory.mktemp('cl_dist')
    data = root / 'data'
    generate_demo_dataset(str(data), num_train=6, num_val=1, size=(64, 64), seed=0)
    cfg = root / 'cl_dist_sod.py'
    cfg.write_text(
        CONFIG.format(
            base=osp.join(REPO, 'configs', '_base_', 'closed_loop', 'sod_task.py'),
            data_root=str(data) + '/'))
    return root, cfg


def _initial_state(cfg_path):
    """The model the runs start from: the Runner seeds (randomness.seed=0) and builds."""
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmengine.runner import set_random_seed

    from cldyn_mm.registry import MODELS
    cfg = Config.fromfile(str(cfg_path))
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        set_random_seed(cfg.randomness.seed)
        return MODELS.build(cfg.model).state_dict()


def test_two_cpu_processes_match_gradient_accumulation(setup):
    root, cfg = setup
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable, PORT=str(_free_port()))
    common = ['--tensorboard', 'off']
    # both runs at once (about 45 s of CPU time in all, most of it start-up)
    t0 = time.perf_counter()
    dist_job = _start([
        'bash',
        osp.join(REPO, 'tools', 'dist_train.sh'),
        str(cfg), '2', '--work-dir',
        str(root / 'dist'), *common
    ], root / 'dist.log', env)
    single_job = _start([
        sys.executable,
        osp.join(REPO, 'tools', 'train.py'),
        str(cfg), '--work-dir',
        str(root / 'single'), *common, '--cfg-options', 'train_cfg.max_iters=6',
        'optim_wrapper.accumulative_counts=2'
    ], root / 'single.log', env)
    _wait(single_job)
    _wait(dist_job)
    took = time.perf_counter() - t0
    dist_log = (root / 'dist.log').read_text()
    assert "env_cfg.dist_cfg.backend: 'nccl' -> 'gloo'" in dist_log
    assert 'Iter(train) [3/3]' in dist_log

    dist_sd = _load(root / 'dist' / 'iter_3.pth')
    single_sd = _load(root / 'single' / 'iter_6.pth')
    dist_p, single_p = _trained(dist_sd), _trained(single_sd)
    assert dist_p and set(dist_p) == set(single_p)
    diff = max((dist_p[k] - single_p[k]).abs().max().item() for k in dist_p)

    init = _initial_state(cfg)
    # same start: the frozen VFN is the freshly seeded one in both checkpoints
    for sd in (dist_sd, single_sd):
        assert all(torch.equal(sd[k], init[k]) for k in sd if k.startswith('fuser.fusion_net.'))
    moved = max((single_p[k] - init[k].float()).abs().max().item() for k in single_p)
    print(f'\ndistributed (2 procs x 3 it) and single (6 it, accumulate 2) runs: {took:.1f} s; '
          f'max |dist - single| = {diff:.3g}, max |trained - init| = {moved:.3g}')
    assert moved > 100 * TOL, 'training did not change the RSC / bank parameters'
    assert diff <= TOL, f'distributed and accumulated parameters differ by {diff}'


def _agree_worker(rank, tmp):
    import torch.distributed as torch_dist

    from cldyn_mm.engine.multitask.task_gradients import all_ranks_agree
    torch_dist.init_process_group('gloo', init_method=f'file://{tmp}/init', rank=rank, world_size=2)
    try:
        got = (all_ranks_agree(rank != 0), all_ranks_agree(True))
    finally:
        torch_dist.destroy_process_group()
    with open(f'{tmp}/rank{rank}', 'w') as f:
        f.write(repr(got))


@pytest.mark.e2e  # two spawned processes: about 11 s
def test_nonfinite_decision_is_collective(tmp_path):
    """The closed-loop update (MultiTaskOptimWrapper) decides "non-finite loss, stop this step"
    on all ranks together (``all_ranks_agree``): a rank that stopped alone would leave the
    others waiting in the task-gradient all-reduce."""
    import torch.multiprocessing as mp
    mp.spawn(_agree_worker, args=(str(tmp_path), ), nprocs=2, join=True)
    for rank in (0, 1):
        assert (tmp_path / f'rank{rank}').read_text() == '(False, True)'
