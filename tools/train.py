"""Train a cldyn_mm model (VFN, CLDyN, task networks) with MMEngine's Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options key=value ...] [--launcher pytorch]

Several processes: tools/dist_train.sh CONFIG NUM_PROCS [args...] (torchrun; NCCL on GPUs,
gloo on CPUs, see cldyn_mm/utils/distributed.py).
"""
import argparse
import os

from mmengine.config import DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from cldyn_mm.utils import register_all_modules
from cldyn_mm.utils.checkpoint import trust_checkpoints_globally
from cldyn_mm.utils.distributed import setup_cpu_distributed, teardown_distributed
from cldyn_mm.utils.run_config import load_run_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a cldyn_mm model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint; without a value, from the latest checkpoint '
        'in the work dir')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, e.g. train_cfg.max_iters=100')
    parser.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load checkpoints with full unpickling (weights_only=False); only for files you '
        'made or trust. Without it, loading stays safe (tensors + MMEngine log buffers).')
    parser.add_argument(
        '--tensorboard',
        choices=['auto', 'on', 'off'],
        default='auto',
        help='add a TensorBoard backend (auto: when installed)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def amp_wrapper_type(wrapper_type: str) -> str:
    """The AMP variant of an ``optim_wrapper.type``: ``AmpMultiTaskOptimWrapper`` for the closed
    loop's ``MultiTaskOptimWrapper`` (scope prefix kept), ``AmpOptimWrapper`` otherwise."""
    scope, _, name = str(wrapper_type).rpartition('.')
    if name in ('MultiTaskOptimWrapper', 'AmpMultiTaskOptimWrapper'):
        return f'{scope}.AmpMultiTaskOptimWrapper' if scope else 'AmpMultiTaskOptimWrapper'
    return 'AmpOptimWrapper'


def main(argv=None):
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    if args.trust_checkpoint:
        trust_checkpoints_globally()
    cfg = load_run_config(args.config, args.work_dir, args.cfg_options, args.launcher,
                          args.tensorboard)
    if args.amp:
        cfg.optim_wrapper.type = amp_wrapper_type(cfg.optim_wrapper.get('type', 'OptimWrapper'))
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    # distributed without CUDA (tools/dist_train.sh on CPUs): gloo, CPU-safe DDP, SyncBN -> BN;
    # with CUDA, MMEngine's own NCCL initialisation runs unchanged
    for note in setup_cpu_distributed(cfg, args.launcher):
        if os.environ.get('RANK', '0') == '0':
            print(f'CPU distributed: {note}', flush=True)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    if args.launcher != 'none':
        teardown_distributed()
    return runner


if __name__ == '__main__':
    main()
