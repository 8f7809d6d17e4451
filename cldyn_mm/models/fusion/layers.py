"""The conv blocks of the fusion networks, and the upgrade of their pre-ConvModule checkpoints.

Every Conv2d + BatchNorm2d + LeakyReLU(0.2) of VFN and A2SI is an mmcv ``ConvModule``
(:func:`conv_block`). Until state-dict version 2 these were entries of ``nn.Sequential``s, so
the checkpoint names differ: a sequence ``[conv, bn, act] * n`` was indexed ``3j`` (conv) and
``3j + 1`` (BN); now stage ``j`` is one ``ConvModule`` with ``conv`` and ``bn``, e.g.

    ir_encoder.stem.0.weight          -> ir_encoder.stem.0.conv.weight
    ir_encoder.stem.1.running_mean    -> ir_encoder.stem.0.bn.running_mean
    ir_encoder.blocks.0.conv1.0.bias  -> ir_encoder.blocks.0.conv1.conv.bias

Each module that owns such blocks lists its renames in ``_legacy_renames`` (old module path ->
new module path, relative to itself) and derives from :class:`LegacyKeysMixin`, whose
``_load_from_state_dict`` (PyTorch's mechanism for versioned state dicts, ``_version = 2``)
renames old keys before loading. So a checkpoint of the old layout loads strictly into the
new modules by any loader (``load_state_dict``, MMEngine's ``load_checkpoint``, ``load_from``);
:func:`upgrade_legacy_keys` renames the keys of a whole state dict for a given model (for code
that compares keys, and to rewrite files). The renaming is exact (an old name is a module path
followed by one parameter or buffer name; no new name has that form), so it never touches a
state dict of the new layout, also when the version metadata was lost.
"""
import warnings
from typing import Dict, Iterator, List, Mapping, MutableMapping, Optional, Tuple, Union

import torch.nn as nn
from mmcv.cnn import ConvModule

__all__ = [
    'DefaultInitConvModule', 'conv_block', 'is_conv_block', 'LegacyKeysMixin', 'rename_legacy_keys',
    'upgrade_legacy_keys', 'LEAKY_RELU', 'STATE_DICT_VERSION', 'InitCfg'
]

#: ``init_cfg`` of the fusion networks' modules (MMEngine's BaseModule)
InitCfg = Optional[Union[dict, List[dict]]]

#: the activation of every conv block: LeakyReLU(0.2), in place (as the research code)
LEAKY_RELU = dict(type='LeakyReLU', negative_slope=0.2, inplace=True)

#: ``_version`` of the modules built of ConvModules (1: the nn.Sequential layout)
STATE_DICT_VERSION = 2

# parameter and buffer names of Conv2d and BatchNorm2d, the last part of an old key
_PARAM_NAMES = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


class DefaultInitConvModule(ConvModule):
    """mmcv's :class:`~mmcv.cnn.ConvModule` that keeps PyTorch's default initialisation.

    ``ConvModule`` re-initialises its conv (Kaiming normal, fan-out, zero bias) and its norm
    (1, 0) in ``init_weights``, which it also calls at construction. The fusion networks are
    initialised as the research code's: PyTorch's defaults. This subclass leaves the layers as
    PyTorch built them (same values and same random stream as ``nn.Conv2d`` /
    ``nn.BatchNorm2d``), and ``init_weights`` does nothing, so an ``init_cfg`` of a parent
    :class:`~mmengine.model.BaseModule` (e.g. ``dict(type='Kaiming', layer='Conv2d')``) is
    what these layers get, not overwritten afterwards. Forward and state dict are
    ``ConvModule``'s.
    """

    def init_weights(self) -> None:
        """Keep the weights (PyTorch's default init, or what a parent's init_cfg set)."""


def conv_block(in_channels: int,
               out_channels: int,
               kernel_size: int = 3,
               dilation: int = 1,
               padding_mode: str = 'zeros',
               bias: Union[bool, str] = True,
               norm: bool = True,
               act: bool = True) -> ConvModule:
    """Conv (``"same"`` padding ``dilation * (kernel_size // 2)``) -> BN -> LeakyReLU(0.2).

    A :class:`DefaultInitConvModule`; ``norm`` / ``act`` False leave BN / the activation
    out, ``padding_mode`` is ``'zeros'`` or ``'reflect'`` (an explicit padding layer, as mmcv
    does; the same values as ``nn.Conv2d(padding_mode='reflect')``). ``bias`` is the conv's:
    the VFN has a conv bias before its BNs (the research architecture, part of its 46,617
    parameters), so mmcv's warning about it is not shown.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='Unnecessary conv bias before batch')
        return DefaultInitConvModule(
            in_channels,
            out_channels,
            kernel_size,
            padding=dilation * (kernel_size // 2),
            dilation=dilation,
            bias=bias,
            norm_cfg=dict(type='BN') if norm else None,
            act_cfg=LEAKY_RELU if act else None,
            padding_mode=padding_mode)


def _key_renames(prefix: str, renames: Mapping[str, str]) -> Iterator[Tuple[str, str]]:
    """``(prefix + old + '.' + p, prefix + new + '.' + p)`` for every ``old -> new`` of
    ``renames`` and every Conv2d / BatchNorm2d parameter or buffer name ``p``."""
    for old, new in renames.items():
        for param in _PARAM_NAMES:
            yield f'{prefix}{old}.{param}', f'{prefix}{new}.{param}'


def rename_legacy_keys(state_dict: MutableMapping, prefix: str, renames: Mapping[str, str]) -> int:
    """Rename, in place, the keys ``prefix + old + '.' + p`` of ``state_dict`` to ``prefix +
    new + '.' + p`` for every ``old -> new`` of ``renames`` and every Conv2d / BatchNorm2d
    parameter or buffer name ``p``. Returns the number of renamed keys."""
    done = 0
    for key, target in _key_renames(prefix, renames):
        if key in state_dict:
            if target in state_dict:
                raise KeyError(f'the state dict has both {key} (layout of state-dict version '
                               f'1) and {target}; it mixes two layouts')
            state_dict[target] = state_dict.pop(key)
            done += 1
    return done


class LegacyKeysMixin:
    """Load state dicts of the ``nn.Sequential`` layout (version 1) into ConvModule layout.

    A subclass sets ``_legacy_renames``: ``{old module path: new module path}`` relative to
    itself (e.g. ``{'stem.1': 'stem.0.bn'}``). Put it before ``BaseModule`` in the bases.
    """

    _version = STATE_DICT_VERSION
    _legacy_renames: Dict[str, str] = {}

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # version 1 (or no metadata: state dicts rebuilt as plain dicts lose it)
        if local_metadata.get('version', 1) < STATE_DICT_VERSION:
            rename_legacy_keys(state_dict, prefix, self._legacy_renames)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def upgrade_legacy_keys(model: nn.Module,
                        state_dict: Mapping,
                        prefix: str = '') -> Dict[str, object]:
    """``state_dict`` with the keys of ``model``'s ConvModule blocks renamed from the old
    layout (version 1) to the current one; values (and their dtypes) and the order of the
    other keys are kept. ``prefix`` is put before ``model``'s own names (e.g. ``'module.'``).
    A state dict of the current layout comes back with the same keys."""
    renames: Dict[str, str] = {}
    for name, module in model.named_modules():
        if isinstance(module, LegacyKeysMixin):
            base = f'{prefix}{name}.' if name else prefix
            renames.update(_key_renames(base, module._legacy_renames))
    out = {}
    for key, value in state_dict.items():
        new_key = renames.get(key, key)
        if new_key in out or (new_key != key and new_key in state_dict):
            raise KeyError(f'{key} and {new_key} both in the state dict; it mixes two layouts')
        out[new_key] = value
    return out


def is_conv_block(module: Optional[nn.Module]) -> bool:
    """True for a ConvModule: conv -> norm -> act, no explicit padding, no spectral norm."""
    return (isinstance(module, ConvModule) and module.order == ('conv', 'norm', 'act')
            and not module.with_explicit_padding and not module.with_spectral_norm)
