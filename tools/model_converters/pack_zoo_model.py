"""Pack training checkpoints into one weight file that a model-index config loads strictly.

    python tools/model_converters/pack_zoo_model.py CONFIG --part CKPT[:SRC[:DST]] [...] \
        --out cldyn_mm/model_zoo/weights/NAME.pth [--half]

Each ``--part`` takes the keys of CKPT that start with SRC (default: all) and stores them
under DST (default: SRC), e.g. for a CLDyN detection model (a ``FusedDetector`` in mode
``cldyn``): the detector of the stage-1.5 run and the fuser of the closed-loop run,

    --part W/det_vfn/iter_1200.pth:adapter.model. --part W/cldyn_seed1/iter_400.pth:fuser.

``--half`` stores large float tensors in fp16 (cldyn_mm.model_zoo.packing). The packed file is
loaded into the model CONFIG builds (with every checkpoint path of the config cleared, so
nothing else is read) and written as that model's full state dict, so it loads strictly: a
key that is missing (other than an alias of a given one) or left over is an error, and no
file is written. Prints the file's size and SHA-256. Mistakes end with one line on stderr
and exit code 1 (--debug: the traceback).
"""
import argparse
import os.path as osp
import sys

from cldyn_mm.utils.cli import run_cli

#: config keys that name checkpoints to load at build time; cleared for the strict check
CHECKPOINT_KEYS = ('checkpoint', 'fuser_checkpoint', 'vfn_checkpoint', 'init_cfg', 'load_from')


def parse_part(text: str):
    path, _, rest = text.partition(':')
    src, _, dst = rest.partition(':')
    return path, src, dst if dst else src


def clear_checkpoints(cfg):
    """Recursively set every build-time checkpoint path of a model config to None."""
    if isinstance(cfg, dict):
        for key in list(cfg):
            if key in CHECKPOINT_KEYS:
                cfg[key] = None
            else:
                clear_checkpoints(cfg[key])
    elif isinstance(cfg, (list, tuple)):
        for item in cfg:
            clear_checkpoints(item)
    return cfg


def build_for_check(config: str):
    import copy

    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import cldyn_mm  # noqa: F401 - registers the modules
    from cldyn_mm.registry import MODELS
    cfg = Config.fromfile(config)
    init_default_scope(cfg.get('default_scope', 'cldyn_mm'))
    model_cfg = clear_checkpoints(copy.deepcopy(cfg.model.to_dict()))
    return MODELS.build(model_cfg)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config', help='config of the shipped model (model-index Config)')
    p.add_argument(
        '--part',
        action='append',
        required=True,
        metavar='CKPT[:SRC[:DST]]',
        help='checkpoint and key prefix to take (repeatable)')
    p.add_argument('--out', required=True, help='output weight file')
    p.add_argument('--half', action='store_true', help='store large float tensors as fp16')
    p.add_argument('--debug', action='store_true', help='show the traceback of an error')
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config not found: {args.config}')

    from cldyn_mm.model_zoo.packing import (collect_parts, complete_for_model, file_sha256,
                                            save_packed)
    state, info = collect_parts([parse_part(t) for t in args.part])
    model = build_for_check(args.config)
    try:
        state = complete_for_model(model, state)
    except RuntimeError as e:
        raise RuntimeError(f'the packed weights do not fit {args.config}: {e}') from e
    state = save_packed(
        state,
        args.out,
        info,
        half=args.half,
        extra_meta=dict(config=osp.relpath(osp.abspath(args.config))))
    size = osp.getsize(args.out)
    print(f'{args.out}: {len(state)} tensors, {size / 2**20:.2f} MiB, '
          f'sha256 {file_sha256(args.out)}')
    return 0


def cli(argv=None) -> int:
    """``main`` with errors as one line on stderr (exit code 1); ``--debug`` re-raises."""
    return run_cli(
        main,
        argv,
        prog='pack_zoo_model.py',
        errors=(FileNotFoundError, KeyError, ValueError, RuntimeError))


if __name__ == '__main__':
    sys.exit(cli())
