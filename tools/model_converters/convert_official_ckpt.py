"""Convert the CLDyN research code's checkpoints into one cldyn_mm checkpoint.

    python tools/model_converters/convert_official_ckpt.py --vfn VFN.pth [--rsc RSC.pth] \
        --out OUT.pth [--config configs/cldyn/cldyn_vfn-rsc_pairs.py] [--trust-checkpoint]

``--vfn``: the research VFN checkpoint, a dict with ``'net'`` (state dict; encoders spelled
``ir_feb``/``vi_feb`` or ``ir_e``/``vi_e``, decoder ``frb2`` or ``fb``). ``--rsc``: the research
RSC checkpoint with ``'rsc_ir'``, ``'rsc_vi'`` (A2SI blocks ``a2si0..``) and ``'bvb'`` (the bank,
(S*V, D) or (S, V, D)); its ``'rsc_optimizer'`` is dropped. bf16 tensors become float32.

The output ``{'state_dict': ..., 'meta': ...}`` loads strictly into the model of ``--config``
(default ``configs/cldyn/cldyn_vfn-rsc_pairs.py``). Without ``--rsc`` it holds only the VFN
(``fusion_net.*``), usable as ``vfn_checkpoint=`` or with a VFN config. Every name is mapped by
the tables below; a file with unknown, missing or duplicate names, or a tensor of the wrong
shape, is refused with the list of offending names (exit code 1, nothing written).

Files are read with ``torch.load(weights_only=True)``; ``--trust-checkpoint`` allows full
unpickling for a file that needs it (only for files you trust: unpickling can run code).
"""
import argparse
import os
import os.path as osp
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

DEFAULT_CONFIG = osp.join(REPO_ROOT, 'configs', 'cldyn', 'cldyn_vfn-rsc_pairs.py')

# Spellings of the research code's top-level VFN modules.
SPELLINGS = {
    'ir': ('ir_feb', 'ir_e'),
    'vis': ('vi_feb', 'vi_e'),
    'fus': ('frb1', ),
    'dec': ('frb2', 'fb'),
}

# Research module path -> cldyn_mm module path, inside the VFN. {ir}/{vis}/{fus}/{dec} match
# any spelling of SPELLINGS; {N} (block) and {I} (layer index) are copied. The parameter or
# buffer name after the module path (weight, bias, running_mean, ...) is kept. The research
# code's Conv2d + BatchNorm2d (+ LeakyReLU) nn.Sequentials map index for index onto this
# package's state-dict version 1; the ConvModule names of the current version follow from the
# modules' own renames (cldyn_mm.models.fusion.layers.upgrade_legacy_keys, in main).
_CB = [('Dcov1.{I}', 'conv1.{I}'), ('Dcov2.{I}', 'conv2.{I}'), ('conv', 'fuse')]
VFN_TABLE: List[Tuple[str, str]] = [
    ('{ir}.bfe.{I}', 'ir_encoder.stem.{I}'),
    *[('{ir}.e{N}.' + r, 'ir_encoder.blocks.{N}.' + o) for r, o in _CB],
    ('{vis}.bfe.{I}', 'vis_encoder.stem.{I}'),
    *[('{vis}.e{N}.' + r, 'vis_encoder.blocks.{N}.' + o) for r, o in _CB],
    ('{fus}.mlp_aa.{I}', 'fusion.channel_mlp_avg.{I}'),
    ('{fus}.mlp_ma.{I}', 'fusion.channel_mlp_max.{I}'),
    ('{fus}.conv_mean_a.{I}', 'fusion.spatial_conv_avg.{I}'),
    ('{fus}.conv_max_a.{I}', 'fusion.spatial_conv_max.{I}'),
    ('{dec}.f_conv.{I}', 'decoder.head.{I}'),
    *[('{dec}.d{N}.' + r, 'decoder.blocks.{N}.' + o) for r, o in _CB],
    ('{dec}.res.{I}', 'decoder.out.{I}'),
]

# Inside one RSC chain: research A2SI block a2si{N} -> blocks.{N} of RSCChain.
A2SI_TABLE: List[Tuple[str, str]] = [
    ('a2si{N}.orthogonal_convolutional_prototypes', 'blocks.{N}.selector.prototypes'),
    ('a2si{N}.p_task_f.0', 'blocks.{N}.selector.task_code.conv1'),
    ('a2si{N}.p_task_f.2', 'blocks.{N}.selector.task_code.conv2'),
    ('a2si{N}.p_img_f.{I}', 'blocks.{N}.selector.img_code.{I}'),
    ('a2si{N}.a_task_img.{I}', 'blocks.{N}.selector.joint.{I}'),
    ('a2si{N}.bv_f.p_task_f.0', 'blocks.{N}.basis_filter.task_embed.conv1'),
    ('a2si{N}.bv_f.p_task_f.2', 'blocks.{N}.basis_filter.task_embed.conv2'),
    ('a2si{N}.bv_f.p_img_f.{I}', 'blocks.{N}.basis_filter.img_embed.{I}'),
    ('a2si{N}.bv_f.mlp.{I}', 'blocks.{N}.basis_filter.query.{I}'),
    ('a2si{N}.mlp_1x1.{I}', 'blocks.{N}.kernel_1x1.{I}'),
    ('a2si{N}.mlp_3x3.{I}', 'blocks.{N}.kernel_3x3.{I}'),
    ('a2si{N}.B_LR.0', 'blocks.{N}.out_norm'),
    ('a2si{N}.zc', 'blocks.{N}.zero_conv'),
]

# Top-level entries of the research files -> cldyn_mm prefix.
VFN_PREFIX = 'fusion_net.'
RSC_CHAINS = {'rsc_ir': 'rsc_ir.', 'rsc_vi': 'rsc_vis.'}
BANK_KEY = 'bvb'
BANK_NAME = 'bank.weight'
VFN_FILE_EXTRA = ('optimizer', 'epoch')  # dropped
RSC_FILE_EXTRA = ('rsc_optimizer', 'cur_losses')  # dropped


class ConversionError(Exception):
    """A research checkpoint that cannot be converted; the message names the file and keys."""


def _compile(table: Sequence[Tuple[str, str]]) -> List[Tuple[re.Pattern, str]]:
    rules = []
    for research, ours in table:
        pattern = re.escape(research)
        for slot, names in SPELLINGS.items():
            pattern = pattern.replace(
                re.escape('{' + slot + '}'), '(?:' + '|'.join(map(re.escape, names)) + ')')
        pattern = pattern.replace(re.escape('{N}'), r'(?P<N>\d+)')
        pattern = pattern.replace(re.escape('{I}'), r'(?P<I>\d+)')
        rules.append((re.compile('^' + pattern + r'(?P<param>(?:\.[A-Za-z_]\w*)?)$'), ours))
    return rules


_VFN_RULES = _compile(VFN_TABLE)
_A2SI_RULES = _compile(A2SI_TABLE)


def map_name(name: str, rules) -> Optional[str]:
    """The cldyn_mm name of research name ``name`` by the first matching rule, else None."""
    for pattern, template in rules:
        m = pattern.match(name)
        if m:
            groups = {k: v for k, v in m.groupdict().items() if k != 'param' and v is not None}
            return template.format(**groups) + m.group('param')
    return None


def _strip_module_prefix(state: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Remove the ``module.`` prefix that (Distributed)DataParallel adds to every name."""
    if state and all(k.startswith('module.') for k in state):
        return {k[len('module.'):]: v for k, v in state.items()}
    return state


def map_state(state: Dict[str, torch.Tensor], rules, prefix: str, what: str, origin: Dict[str, str],
              out: Dict[str, torch.Tensor]) -> None:
    """Rename ``state`` into ``out`` (``prefix`` + mapped name), recording research names."""
    unknown, duplicate = [], []
    for name, value in _strip_module_prefix(state).items():
        if not isinstance(value, torch.Tensor):
            unknown.append(f'{name} (not a tensor: {type(value).__name__})')
            continue
        ours = map_name(name, rules)
        if ours is None:
            unknown.append(name)
            continue
        ours = prefix + ours
        if ours in out:
            duplicate.append(f'{name} and {origin[ours]} (both -> {ours})')
            continue
        out[ours] = value
        origin[ours] = f'{what}:{name}'
    problems = []
    if unknown:
        problems.append(f'{len(unknown)} unexpected key(s): ' + ', '.join(unknown))
    if duplicate:
        problems.append(f'{len(duplicate)} duplicate key(s) (two spellings of one module?): ' +
                        ', '.join(duplicate))
    if problems:
        raise ConversionError(f'{what}: ' + '; '.join(problems))


def load_research_file(path: str, trust: bool) -> dict:
    """``torch.load`` with ``weights_only=True`` (or full unpickling when ``trust``)."""
    if not osp.isfile(path):
        raise ConversionError(f'file not found: {path}')
    if trust:
        from cldyn_mm.utils.checkpoint import trusted_load
        obj = trusted_load(path)
    else:
        try:
            obj = torch.load(path, map_location='cpu', weights_only=True)
        except Exception as e:  # noqa: BLE001 - torch raises UnpicklingError and others
            raise ConversionError(
                f'{path} cannot be loaded safely (weights_only=True): {e}\nIf you made this '
                'file or trust its source, rerun with --trust-checkpoint.') from e
    if not isinstance(obj, dict):
        raise ConversionError(f'{path} holds a {type(obj).__name__}, expected a dict')
    return obj


def _check_top_level(obj: dict, path: str, required: Sequence[str], dropped: Sequence[str]) -> None:
    missing = [k for k in required if k not in obj]
    unknown = [k for k in obj if k not in required and k not in dropped]
    if missing or unknown:
        raise ConversionError(
            f'{path}: expected top-level keys {list(required)} (and optionally '
            f'{list(dropped)}); missing: {missing or "none"}; unexpected: {unknown or "none"}')


def read_research(vfn_path: str,
                  rsc_path: Optional[str],
                  trust: bool = False) -> Tuple[Dict[str, torch.Tensor], Dict[str, str]]:
    """Load the research files and rename every tensor by the tables.

    Returns the renamed tensors (research dtypes, the bank as stored) and, per cldyn_mm name,
    where it came from. Raises :class:`ConversionError` for unreadable files, unexpected
    top-level entries and names no rule maps (or two names mapping to one).
    """
    out: Dict[str, torch.Tensor] = {}
    origin: Dict[str, str] = {}
    vfn = load_research_file(vfn_path, trust)
    if 'net' in vfn:
        _check_top_level(vfn, vfn_path, ('net', ), VFN_FILE_EXTRA)
        vfn = vfn['net']
    if not isinstance(vfn, dict):
        raise ConversionError(f"{vfn_path}: 'net' is a {type(vfn).__name__}, expected a dict")
    map_state(vfn, _VFN_RULES, VFN_PREFIX, vfn_path, origin, out)
    if rsc_path is not None:
        rsc = load_research_file(rsc_path, trust)
        _check_top_level(rsc, rsc_path, (*RSC_CHAINS, BANK_KEY), RSC_FILE_EXTRA)
        for key, prefix in RSC_CHAINS.items():
            if not isinstance(rsc[key], dict):
                raise ConversionError(f"{rsc_path}: '{key}' must be a state dict")
            map_state(rsc[key], _A2SI_RULES, prefix, f'{rsc_path}[{key}]', origin, out)
        bank = rsc[BANK_KEY]
        if not isinstance(bank, torch.Tensor):
            raise ConversionError(f"{rsc_path}: '{BANK_KEY}' must be a tensor")
        out[BANK_NAME] = bank
        origin[BANK_NAME] = f'{rsc_path}[{BANK_KEY}]'
    return out, origin


def fit_to_model(out: Dict[str, torch.Tensor], origin: Dict[str, str],
                 expected: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Check the renamed tensors against the target state dict and cast them to its dtypes.

    Args:
        out (dict): Renamed research tensors (:func:`read_research`).
        origin (dict): Research origin of each name, for the error messages.
        expected (dict): State dict of the target model (names, shapes, dtypes); when ``out``
            holds no bank (no RSC file), only its ``fusion_net.*`` part is required.

    Returns:
        dict: the state dict to save (float32 tensors, int64 BN counters).
    """
    if BANK_NAME in out:
        targets = expected
    else:
        targets = {k: v for k, v in expected.items() if k.startswith(VFN_PREFIX)}
    if BANK_NAME in out and BANK_NAME in targets:
        want = targets[BANK_NAME].shape  # (S*V, D); the research code also saved (S, V, D)
        got = out[BANK_NAME]
        if got.dim() == 3 and got.shape[0] * got.shape[1] == want[0] and got.shape[2] == want[1]:
            out = dict(out, **{BANK_NAME: got.reshape(want)})

    missing = [k for k in targets if k not in out]
    unexpected = [f'{origin[k]} (-> {k})' for k in out if k not in targets]
    wrong = [
        f'{origin[k]} (-> {k}): {tuple(out[k].shape)}, model has '
        f'{tuple(targets[k].shape)}' for k in out
        if k in targets and out[k].shape != targets[k].shape
    ]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing key(s) (cldyn_mm names): ' + ', '.join(missing))
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected key(s): ' + ', '.join(unexpected))
    if wrong:
        problems.append(f'{len(wrong)} tensor(s) of the wrong shape: ' + '; '.join(wrong))
    if problems:
        raise ConversionError('the checkpoint does not fit the model:\n  ' + '\n  '.join(problems))
    return {k: v.detach().to(dtype=targets[k].dtype).clone().contiguous() for k, v in out.items()}


def build_target(config: str) -> torch.nn.Module:
    """The model of ``config`` (its ``vfn_checkpoint`` ignored), on the CPU."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    import cldyn_mm.models  # noqa: F401 - registers the models (and nothing heavier)
    from cldyn_mm.registry import MODELS
    if not osp.isfile(config):
        raise ConversionError(f'config not found: {config}')
    init_default_scope('cldyn_mm')
    cfg = Config.fromfile(config)
    model_cfg = cfg.model
    if 'vfn_checkpoint' in model_cfg:
        model_cfg.vfn_checkpoint = None
    return MODELS.build(model_cfg)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Convert the CLDyN research code's VFN (and RSC) checkpoints")
    p.add_argument('--vfn', required=True, help="research VFN checkpoint (dict with 'net')")
    p.add_argument('--rsc', help="research RSC checkpoint ('rsc_ir', 'rsc_vi', 'bvb')")
    p.add_argument('--out', required=True, help='output checkpoint path')
    p.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='config whose model the output must fit (default: %(default)s)')
    p.add_argument(
        '--trust-checkpoint',
        action='store_true',
        help='load the inputs with full unpickling; only for files you trust')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        renamed, origin = read_research(args.vfn, args.rsc, args.trust_checkpoint)
        model = build_target(args.config)
        # version-1 names (the research layout) -> the ConvModule names of the model
        from cldyn_mm.models.fusion.layers import upgrade_legacy_keys
        renamed, origin = upgrade_legacy_keys(model, renamed), upgrade_legacy_keys(model, origin)
        state = fit_to_model(renamed, origin, model.state_dict())
        if args.rsc is not None:
            model.load_state_dict(state, strict=True)  # the final word on fitting
        else:
            model.fusion_net.load_state_dict({
                k[len(VFN_PREFIX):]: v
                for k, v in state.items()
            },
                                             strict=True)
        meta = dict(
            converted_from=dict(
                vfn=osp.abspath(args.vfn), rsc=osp.abspath(args.rsc) if args.rsc else None),
            converter='tools/model_converters/convert_official_ckpt.py',
            config=osp.relpath(args.config, REPO_ROOT) if osp.isabs(args.config) else args.config,
            model=type(model).__name__ if args.rsc is not None else 'VFN only (fusion_net.*)',
            dtype='float32')
        out_dir = osp.dirname(osp.abspath(args.out))
        os.makedirs(out_dir, exist_ok=True)
        tmp = args.out + '.partial'
        torch.save(dict(state_dict=state, meta=meta), tmp)
        os.replace(tmp, args.out)
    except ConversionError as e:
        print(f'error: {e}', file=sys.stderr)
        print('nothing was written.', file=sys.stderr)
        return 1
    print(f'wrote {args.out}: {len(state)} tensors '
          f"({'VFN + RSC + bank' if args.rsc else 'VFN only'})")
    return 0


if __name__ == '__main__':
    sys.exit(main())
