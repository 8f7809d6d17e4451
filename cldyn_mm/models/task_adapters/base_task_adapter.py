"""Frozen downstream task networks behind one interface (CLDyN's task adapters).

A task adapter wraps an ordinary mmdet detector / mmseg segmentor, built from its usual model
config (and an optional checkpoint), frozen and always in eval mode. Its inputs are fused RGB
batches ``(B, 3, H, W)`` in [0, 1] (what the fusion networks produce); it offers

* :meth:`BaseTaskAdapter.task_feature`: the output of a named layer (no gradient), the task
  feature ``T`` that CLDyN's RSC blocks read;
* :meth:`BaseTaskAdapter.loss`: the task network's own losses, differentiable with respect to
  the fused image (the reward signal of the closed loop);
* :meth:`BaseTaskAdapter.predict`: mmdet / mmseg data samples with predictions, at the data
  samples' scale conventions (original image size).

The fused image is normalised inside the adapter, differentiably, with the task network's own
data preprocessor values (mean / std in 0-255 units, channel order): mmdet/mmseg pipelines load
images as BGR, and the network sees RGB when its preprocessor has ``bgr_to_rgb`` (or
``rgb_to_bgr``), BGR otherwise. The geometric part of the preprocessor (padding to the size
divisor, ``batch_input_shape`` / ``pad_shape`` / ``padding_size`` metainfo, padding of the
ground-truth maps) is reproduced; its uint8 handling and batch augmentations are not.
"""
import copy
import difflib
import importlib
import importlib.util
import logging
import os.path as osp
import re
from contextlib import contextmanager
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import revert_sync_batchnorm
from mmengine.registry import DefaultScope
from mmengine.runner.checkpoint import load_state_dict
from mmengine.structures import BaseDataElement
from torch import Tensor

from cldyn_mm.registry import MODELS
from cldyn_mm.utils.checkpoint import read_checkpoint, trusted_load

FeatureIndex = Union[int, str, Sequence[Union[int, str]], None]


def load_task_config(path: Union[str, Config]) -> Config:
    """Load an mmdet / mmseg (or any) config file.

    ``path`` may use MMEngine's package prefix, as in ``_base_``:
    ``'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py'`` is read with MMEngine's
    :func:`mmengine.hub.get_config` from the installed package's ``.mim/configs`` folder
    (``Config.fromfile`` itself does not resolve the prefix).
    """
    if isinstance(path, Config):
        return path
    path = str(path)
    if '::' in path:
        from mmengine.hub import get_config

        from cldyn_mm.mim import register_mim_package
        register_mim_package()  # cldyn_mm:: paths through mmengine.hub too
        package = path.split('::', 1)[0]
        if importlib.util.find_spec(package) is None:
            raise ImportError(f'{path}: package {package!r} is not installed')
        try:
            return get_config(path)
        except FileNotFoundError as e:
            raise FileNotFoundError(f'{path}: no such config in {package} ({e})') from e
    if not osp.isfile(path):
        raise FileNotFoundError(f'config file {path!r} not found')
    return Config.fromfile(path)


def resolve_model_cfg(model: Optional[dict] = None,
                      config: Union[str, Config, None] = None,
                      model_overrides: Optional[dict] = None) -> ConfigDict:
    """The task network's model config: ``model``, or ``config``'s ``model``, with overrides.

    ``model_overrides`` is merged as ``--cfg-options`` would: keys may be dotted
    (``'bbox_head.num_classes': 3``), dict values are merged recursively and ``_delete_=True``
    replaces a dict.
    """
    if (model is None) == (config is None):
        raise ValueError('give exactly one of `model` (a model config dict) and `config` (a '
                         "config file such as 'mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py')")
    if config is not None:
        cfg = load_task_config(config)
        if 'model' not in cfg:
            raise KeyError(f'config {config!r} has no `model`')
        model = cfg.model
    if not isinstance(model, dict) or 'type' not in model:
        raise TypeError(f'the task model config must be a dict with a `type`, got {model!r}')
    cfg = Config(dict(model=copy.deepcopy(dict(model))))
    if model_overrides:
        cfg.merge_from_dict({f'model.{k}': v for k, v in dict(model_overrides).items()})
    return cfg.model


def _copy_sample(sample: BaseDataElement) -> BaseDataElement:
    """A copy whose fields can be replaced without touching ``sample``.

    ``BaseDataElement.clone`` is shallow (the copy shares ``gt_instances``); here the data
    elements inside (``gt_instances``, ``gt_sem_seg``, ...) are new objects too, their tensors
    are shared (nothing is modified in place).
    """
    new = sample.new()
    for key, value in list(new.items()):
        if isinstance(value, BaseDataElement):
            setattr(new, key, value.new())
    return new


class _FeatureCaptured(Exception):
    """Raised by the feature hook to stop the forward pass once the feature is taken."""


def _describe(x) -> str:
    if isinstance(x, Tensor):
        return f'Tensor{tuple(x.shape)}'
    if isinstance(x, (list, tuple)):
        inner = ', '.join(_describe(v) for v in x[:6]) + (', ...' if len(x) > 6 else '')
        return f'{type(x).__name__}[{inner}]'
    if isinstance(x, dict):
        return '{' + ', '.join(f'{k!r}: {_describe(v)}' for k, v in x.items()) + '}'
    return type(x).__name__


class BaseTaskAdapter(nn.Module):
    """A frozen mmdet / mmseg task network for fused RGB images in [0, 1].

    Args:
        model (dict, optional): The task network's model config, as in an mmdet / mmseg config
            (e.g. ``{{_base_.model}}`` of a config that inherits
            ``_base_ = ['mmdet::rtmdet/rtmdet_tiny_8xb32-300e_coco.py']``).
        config (str | Config, optional): Instead of ``model``: a config file (``mmdet::`` /
            ``mmseg::`` prefixes work) whose ``model`` is used.
        model_overrides (dict, optional): Merged into the model config (dotted keys allowed,
            e.g. ``{'bbox_head.num_classes': 3}``).
        checkpoint (str, optional): Weights of the task network: a local file (loaded with
            torch's safe ``weights_only`` loading plus MMEngine's own log objects, see
            :func:`cldyn_mm.utils.allow_mmengine_checkpoints`) or an http(s) URL (downloaded
            to torch's hub cache, loaded the same safe way). ``state_dict`` inside the file is
            used when present.
        strict_checkpoint (bool): Missing / unexpected / mis-shaped keys raise. Defaults to
            True (a half-loaded frozen network would silently give a wrong task signal).
        trust_checkpoint (bool): Load the checkpoint with full unpickling (only for files you
            made or trust). Defaults to False.
        revise_keys (list): Regex ``(pattern, replacement)`` pairs applied to the checkpoint
            keys. Defaults to stripping a DDP ``module.`` prefix.
        feature_layer (str, optional): Dotted name of the layer whose output is the task
            feature, relative to the task network (``'neck.out_convs.2'``,
            ``'backbone.layer4'``). ``None`` picks the family default (see subclasses).
            Names: :meth:`layer_names`. A wrong name raises at construction.
        feature_index (int | str | sequence, optional): When the layer returns a tuple / list
            / dict, the element taken (a sequence indexes nested containers, e.g. ``(0, -1)``).
            Defaults to -1: the last element (the deepest level of a backbone / neck). Ignored
            for a layer that returns a tensor.
        feature_call (int): Which call of the layer within one forward pass is taken, for
            layers used more than once (shared heads). Defaults to 0 (the first); negative
            values count from the end (the whole forward then runs).
        mean, std (sequence, optional): Override the normalisation values (0-255 units, in the
            network's channel order). Default: the model's data preprocessor values (no
            normalisation when it has none).
        channel_order (str, optional): ``'rgb'`` or ``'bgr'``: the order the network expects.
            Default: ``'rgb'`` when the data preprocessor converts channels
            (``bgr_to_rgb`` / ``rgb_to_bgr``) and ``'bgr'`` otherwise, since mmdet / mmseg
            pipelines load images as BGR.
        pad_size_divisor (int, optional): Override the padding divisor.
    """

    #: 'det', 'seg' or 'sod'
    task: str = ''
    #: MMEngine scope in which the task network is built
    default_scope: str = ''
    #: modules imported before building (registers the scope's models)
    scope_imports: Tuple[str, ...] = ()

    def __init__(self,
                 model: Optional[dict] = None,
                 config: Union[str, Config, None] = None,
                 model_overrides: Optional[dict] = None,
                 checkpoint: Optional[str] = None,
                 strict_checkpoint: bool = True,
                 trust_checkpoint: bool = False,
                 revise_keys: Sequence = ((r'^module\.', ''), ),
                 feature_layer: Optional[str] = None,
                 feature_index: FeatureIndex = -1,
                 feature_call: int = 0,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 channel_order: Optional[str] = None,
                 pad_size_divisor: Optional[int] = None) -> None:
        super().__init__()
        for name in self.scope_imports:
            importlib.import_module(name)
        self.model_cfg = resolve_model_cfg(model, config, model_overrides)
        self.model = self.build_model(self.model_cfg)
        # loss_and_feature: None = not checked yet, True / False = the loss pass does / does
        # not give the task feature
        self._shared_feature_pass: Optional[bool] = None
        self.checkpoint = checkpoint
        self.strict_checkpoint = strict_checkpoint
        self.trust_checkpoint = trust_checkpoint
        self.revise_keys = [tuple(k) for k in revise_keys]
        self.dataset_meta: Optional[dict] = None
        if checkpoint:
            self.load_checkpoint(checkpoint)
        self._setup_preprocessing(mean, std, channel_order, pad_size_divisor)
        self._check_model()
        self.set_feature_layer(feature_layer or self.default_feature_layer(), feature_index,
                               feature_call)
        self.freeze()

    # ------------------------------------------------------------------ building
    def build_model(self, model_cfg: ConfigDict) -> nn.Module:
        """Build the task network in its own scope; SyncBN becomes BN (frozen, eval)."""
        with DefaultScope.overwrite_default_scope(self.default_scope or None):
            model = MODELS.build(copy.deepcopy(model_cfg))
        return revert_sync_batchnorm(model)

    def _check_model(self) -> None:
        """Family-specific checks of the built network (subclasses)."""

    def default_feature_layer(self) -> str:
        return 'backbone'

    def load_checkpoint(self, checkpoint: str) -> Dict[str, Tensor]:
        """Load (again) the task network's weights from ``checkpoint``: a local file (read
        safely by :func:`cldyn_mm.utils.read_checkpoint`, or fully unpickled with
        ``trust_checkpoint``) or an http(s) URL; keys renamed by ``revise_keys``, loaded with
        MMEngine's ``load_state_dict`` (``strict_checkpoint``). Returns the state dict."""
        if re.match(r'^https?://', str(checkpoint)) or self.trust_checkpoint:
            if self.trust_checkpoint:
                ckpt = trusted_load(checkpoint, map_location='cpu')
            else:
                ckpt = torch.hub.load_state_dict_from_url(
                    checkpoint, map_location='cpu', weights_only=True)
            if not isinstance(ckpt, dict):
                raise TypeError(f'{checkpoint}: expected a state dict or a dict with '
                                f'`state_dict`, got {type(ckpt).__name__}')
            state, meta = ckpt.get('state_dict', ckpt), ckpt.get('meta')
        else:
            state, meta = read_checkpoint(checkpoint, 'task network checkpoint')
        for pattern, repl in self.revise_keys:
            state = {re.sub(pattern, repl, k): v for k, v in state.items()}
        try:
            load_state_dict(self.model, state, strict=self.strict_checkpoint)
        except RuntimeError as e:
            raise RuntimeError(f'{checkpoint} does not fit the task network '
                               f'{type(self.model).__name__} (strict_checkpoint=True; check '
                               f'the config, e.g. num_classes): {e}') from e
        if isinstance(meta, dict) and isinstance(meta.get('dataset_meta'), dict):
            self.dataset_meta = meta['dataset_meta']
        return state

    def init_weights(self) -> None:
        """Keep the task network's weights.

        A parent's ``init_weights`` calls this after applying its own ``init_cfg`` (which
        may reach these layers): the checkpoint, when given, is loaded again. Without a
        checkpoint the network keeps the weights it was built with (its own ``init_cfg``,
        e.g. a pretrained backbone download, is never applied by the adapter).
        """
        if self.checkpoint:
            self.load_checkpoint(self.checkpoint)

    def freeze(self) -> None:
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.train(False)

    def train(self, mode: bool = True) -> 'BaseTaskAdapter':
        """The task network stays in eval mode whatever ``mode`` is (BN statistics, dropout)."""
        return super().train(False)

    # ------------------------------------------------------------------ preprocessing
    @property
    def data_preprocessor(self) -> Optional[nn.Module]:
        return getattr(self.model, 'data_preprocessor', None)

    def _setup_preprocessing(self, mean, std, channel_order, pad_size_divisor) -> None:
        dp = self.data_preprocessor
        normalize = bool(getattr(dp, '_enable_normalize', False))
        if mean is None:
            mean = dp.mean.flatten().tolist() if normalize else [0., 0., 0.]
        if std is None:
            std = dp.std.flatten().tolist() if normalize else [1., 1., 1.]
        if channel_order is None:
            swap = bool(
                getattr(dp, '_channel_conversion', False)
                or getattr(dp, 'channel_conversion', False))
            channel_order = 'rgb' if swap else 'bgr'
        if channel_order not in ('rgb', 'bgr'):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {channel_order!r}")
        self.channel_order = channel_order
        self.register_buffer(
            'mean', torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer(
            'std', torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.pad_size_divisor, self.pad_size = self._default_padding(dp)
        if pad_size_divisor is not None:
            self.pad_size_divisor = int(pad_size_divisor)
        if self.pad_size_divisor < 1:
            raise ValueError(f'pad_size_divisor must be >= 1, got {self.pad_size_divisor}')
        self.pad_value = float(getattr(dp, 'pad_value', getattr(dp, 'pad_val', 0.)) or 0.)

    def _default_padding(self, dp) -> Tuple[int, Optional[Tuple[int, int]]]:
        """(size divisor, fixed (h, w) size or None) of the task network's test-time batches."""
        return int(getattr(dp, 'pad_size_divisor', 1) or 1), None

    def normalize(self, fused_rgb: Tensor) -> Tensor:
        """Fused RGB in [0, 1] -> the network's channel order and normalisation (differentiable).
        """
        if fused_rgb.dim() != 4 or fused_rgb.shape[1] != 3:
            raise ValueError('fused images must be a (B, 3, H, W) RGB batch in [0, 1], got '
                             f'shape {tuple(fused_rgb.shape)}')
        x = fused_rgb.float()
        if self.channel_order == 'bgr':
            x = x.flip(1)
        return (x * 255. - self.mean) / self.std

    def padded_shape(self, shape: Sequence[int]) -> Tuple[int, int]:
        h, w = int(shape[-2]), int(shape[-1])
        if self.pad_size is not None:
            h, w = max(h, self.pad_size[0]), max(w, self.pad_size[1])
        d = self.pad_size_divisor
        return -(-h // d) * d, -(-w // d) * d

    def preprocess(self, fused_rgb: Tensor) -> Tensor:
        """Normalise and pad (bottom / right, with the preprocessor's pad value, after
        normalisation as mmdet / mmseg do) to the task network's input batch."""
        x = self.normalize(fused_rgb)
        hp, wp = self.padded_shape(x.shape)
        h, w = x.shape[-2:]
        if (hp, wp) != (h, w):
            x = F.pad(x, (0, wp - w, 0, hp - h), value=self.pad_value)
        return x

    # ------------------------------------------------------------------ data samples
    def _new_sample(self, **metainfo):
        raise NotImplementedError

    @staticmethod
    def _img_shape(sample, fused_shape: Tuple[int, int], i: int) -> Tuple[int, int]:
        shape = sample.metainfo.get('img_shape', None)
        if shape is None:
            return tuple(fused_shape)
        h, w = int(shape[0]), int(shape[1])
        if h > fused_shape[0] or w > fused_shape[1]:
            raise ValueError(f'data sample {i}: img_shape {(h, w)} is larger than the fused '
                             f'batch {tuple(fused_shape)}')
        return h, w

    def default_samples(self, fused_shape: Tuple[int, int], batch: int) -> list:
        """Data samples for images without any: the whole (unpadded) fused image, scale 1."""
        h, w = int(fused_shape[0]), int(fused_shape[1])
        return [
            self._new_sample(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1., 1.))
            for _ in range(batch)
        ]

    def set_geometry(self, samples: Sequence, fused_shape: Tuple[int, int],
                     batch_shape: Tuple[int, int]) -> None:
        """Write the metainfo the task network's data preprocessor would (subclasses)."""
        raise NotImplementedError

    def prepare_samples(self, data_samples: Optional[Sequence], fused: Tensor,
                        batch_shape: Tuple[int, int], for_loss: bool) -> list:
        fused_shape = tuple(fused.shape[-2:])
        if data_samples is None:
            if for_loss:
                raise ValueError('the task loss needs data samples with the ground truth')
            samples = self.default_samples(fused_shape, fused.shape[0])
        else:
            if len(data_samples) != fused.shape[0]:
                raise ValueError(f'{len(data_samples)} data samples for a batch of '
                                 f'{fused.shape[0]} fused images')
            # the loss works on copies (padding the ground truth must not change the caller's
            # samples, which later serve prediction and evaluation at the original size)
            samples = ([_copy_sample(s) for s in data_samples] if for_loss else list(data_samples))
        self.set_geometry(samples, fused_shape, batch_shape)
        return samples

    # ------------------------------------------------------------------ task feature
    def layer_names(self, with_types: bool = False) -> List:
        """Dotted names of the task network's layers (for ``feature_layer``)."""
        if with_types:
            return [(n, type(m).__name__) for n, m in self.model.named_modules() if n]
        return [n for n, _ in self.model.named_modules() if n]

    def set_feature_layer(self, name: str, index: FeatureIndex = -1, call: int = 0) -> None:
        """Choose the task feature's layer (checked now), element and call; see the class
        arguments ``feature_layer``, ``feature_index``, ``feature_call``."""
        module = self._find_layer(name)
        self.feature_layer, self.feature_module = name, module
        self.feature_index, self.feature_call = index, int(call)

    def _find_layer(self, name: str) -> nn.Module:
        modules = dict(self.model.named_modules())
        module = modules.get(name) if name else None
        if module is None:
            raise ValueError(self._layer_error(name, modules))
        if isinstance(module, (nn.ModuleList, nn.ModuleDict)):
            children = [f'{name}.{c}' for c, _ in module.named_children()]
            raise ValueError(f'feature_layer {name!r} of {type(self.model).__name__} is a '
                             f'{type(module).__name__}, which is never called itself; pick one '
                             f'of its entries: {children[:12]}')
        return module

    def _layer_error(self, name: str, modules: Dict[str, nn.Module]) -> str:
        names = [n for n in modules if n]
        parts = name.split('.') if name else []
        prefix = ''
        for k in range(len(parts) - 1, 0, -1):
            if '.'.join(parts[:k]) in modules:
                prefix = '.'.join(parts[:k])
                break
        close = difflib.get_close_matches(name, names, n=6, cutoff=0.5)
        if prefix:
            children = [f'{prefix}.{c}' for c, _ in modules[prefix].named_children()]
        else:
            children = [c for c, _ in self.model.named_children()]
        msg = (f'feature_layer {name!r} is not a layer of the task network '
               f'{type(self.model).__name__}.')
        if close:
            msg += f' Closest names: {close}.'
        msg += (f" Layers under {prefix!r}: {children[:16]}."
                if prefix else f' Top-level layers: {children}.')
        msg += ' All names: adapter.layer_names() or [n for n, _ in model.named_modules()].'
        return msg

    def _select(self, output):
        index = self.feature_index
        if isinstance(output, Tensor) or index is None:
            return output
        path = (index, ) if isinstance(index, (int, str)) else tuple(index)
        x = output
        for k in path:
            if isinstance(x, Tensor):
                break
            try:
                x = x[k]
            except (IndexError, KeyError, TypeError) as e:
                raise ValueError(f'feature_index {index!r} does not fit the output of '
                                 f'{self.feature_layer!r}: {_describe(output)}') from e
        if not isinstance(x, Tensor):
            raise ValueError(f'feature_index {index!r} selects {_describe(x)} from the output '
                             f'of {self.feature_layer!r} ({_describe(output)}); give a path '
                             'that ends at a tensor, e.g. (0, -1)')
        return x

    def _forward_for_feature(self, inputs: Tensor, samples: list) -> None:
        """Run the network far enough for the feature hook (``_forward``: the tensor mode)."""
        self.model._forward(inputs, samples)

    @torch.no_grad()
    def task_feature(self, fused_rgb: Tensor) -> Tensor:
        """Output of ``feature_layer`` for fused RGB images in [0, 1] (no gradient).

        The output is captured by wrapping the layer's ``forward`` for the duration of the
        pass (it acts as a forward hook, and also sees the direct ``head.forward(x)`` calls of
        mmdet / mmseg's ``_forward``, which forward hooks miss). The pass stops right after
        the wanted call of the layer (``feature_call`` >= 0).
        """
        inputs = self.preprocess(fused_rgb)
        samples = self.prepare_samples(None, fused_rgb, tuple(inputs.shape[-2:]), for_loss=False)
        captured = []
        with self._capturing_feature(captured, stop=True):
            try:
                self._forward_for_feature(inputs, samples)
            except _FeatureCaptured:
                pass
        return self._captured_feature(captured)

    @contextmanager
    def _capturing_feature(self, captured: list, stop: bool):
        """Wrap ``feature_module.forward`` so that its outputs are appended to ``captured``;
        with ``stop``, the pass ends (``_FeatureCaptured``) after the wanted call."""
        stop_at = self.feature_call if stop else -1
        module = self.feature_module
        own_attr = 'forward' in module.__dict__
        original = module.forward

        def forward(*args, **kwargs):
            out = original(*args, **kwargs)
            captured.append(out)
            if 0 <= stop_at < len(captured):
                raise _FeatureCaptured
            return out

        module.forward = forward
        try:
            yield
        finally:
            if own_attr:
                module.forward = original
            else:
                del module.forward

    def _captured_feature(self, captured: list) -> Tensor:
        if not captured:
            raise RuntimeError(f'feature_layer {self.feature_layer!r} was not called by the '
                               f'forward pass of {type(self.model).__name__} (is it only used '
                               'by the loss, or an auxiliary head?); pick a layer of the '
                               'inference path')
        try:
            out = captured[self.feature_call]
        except IndexError:
            raise ValueError(f'feature_call {self.feature_call} but {self.feature_layer!r} '
                             f'ran {len(captured)} time(s) in one forward pass') from None
        return self._select(out).detach()

    @torch.no_grad()
    def loss_and_feature(self, fused_rgb: Tensor,
                         data_samples: Sequence) -> Tuple[Dict[str, Tensor], Tensor]:
        """``(losses, task feature)`` of the same images from one pass of the network (no
        gradient): the closed loop's L0 and T, both of the plain fusion, where
        :meth:`loss` + :meth:`task_feature` would run the network's trunk twice.

        The feature is captured during the loss pass. The first call checks, once per
        adapter, that it equals :meth:`task_feature` (a loss pass that calls the layer
        differently, e.g. an auxiliary head on it, would not); if it does not, this and every
        later call computes the feature with its own pass, and a warning says so.
        """
        if self._shared_feature_pass is False:
            return self.loss(fused_rgb, data_samples), self.task_feature(fused_rgb)
        captured = []
        with self._capturing_feature(captured, stop=False):
            losses = self.loss(fused_rgb, data_samples)
        feature = None
        if len(captured) > self.feature_call:
            feature = self._select(captured[self.feature_call]).detach()
        if self._shared_feature_pass is None:
            reference = self.task_feature(fused_rgb)
            same = feature is not None and feature.shape == reference.shape and bool(
                torch.allclose(feature, reference, rtol=1e-5, atol=1e-6))
            self._shared_feature_pass = same
            if not same:
                print_log(
                    f'{type(self).__name__}: the loss pass of {type(self.model).__name__} '
                    f'does not produce the task feature {self.feature_layer!r} as the '
                    'inference pass does; the closed loop computes it with a pass of '
                    'its own',
                    logger='current',
                    level=logging.WARNING)
                feature = reference
        return losses, feature

    # ------------------------------------------------------------------ loss / predict
    def loss(self, fused_rgb: Tensor, data_samples: Sequence) -> Dict[str, Tensor]:
        """The task network's losses on the fused images (differentiable w.r.t. ``fused_rgb``).

        ``data_samples`` carry the ground truth in the frame of the fused image (a training
        pipeline's samples); they are not modified. Sum with :meth:`total_loss`.
        """
        inputs = self.preprocess(fused_rgb)
        samples = self.prepare_samples(
            data_samples, fused_rgb, tuple(inputs.shape[-2:]), for_loss=True)
        return self.model.loss(inputs, samples)

    def total_loss(self, losses: Dict[str, Union[Tensor, List[Tensor]]]) -> Tensor:
        """Sum of the entries whose key contains ``'loss'``, by the task network's own
        ``parse_losses`` (MMEngine's ``BaseModel``; accuracies and other logged values are
        left out)."""
        if not any('loss' in key for key in losses):
            raise ValueError(f'no loss terms among {list(losses)}')
        return self.model.parse_losses(losses)[0]

    @torch.no_grad()
    def predict(self, fused_rgb: Tensor, data_samples: Optional[Sequence] = None) -> list:
        """Predictions on fused images, written into ``data_samples`` (mmdet / mmseg style) at
        the samples' original size; ``None`` makes samples for the whole fused images."""
        inputs = self.preprocess(fused_rgb)
        samples = self.prepare_samples(
            data_samples, fused_rgb, tuple(inputs.shape[-2:]), for_loss=False)
        return self._predict(inputs, samples)

    def _predict(self, inputs: Tensor, samples: list) -> list:
        return self.model.predict(inputs, samples)

    def forward(self,
                fused_rgb: Tensor,
                data_samples: Optional[Sequence] = None,
                mode: str = 'feature'):
        """``mode``: ``'feature'`` (task feature), ``'loss'``, ``'predict'``."""
        if mode == 'feature':
            return self.task_feature(fused_rgb)
        if mode == 'loss':
            return self.loss(fused_rgb, data_samples)
        if mode == 'predict':
            return self.predict(fused_rgb, data_samples)
        raise ValueError(f"invalid mode {mode!r}; use 'feature', 'loss' or 'predict'")

    def extra_repr(self) -> str:
        return (f'task={self.task!r}, network={type(self.model).__name__}, '
                f'feature_layer={self.feature_layer!r}, feature_index={self.feature_index!r}, '
                f'channel_order={self.channel_order!r}, pad_size_divisor='
                f'{self.pad_size_divisor}, checkpoint={self.checkpoint!r}')


__all__ = ['BaseTaskAdapter', 'load_task_config', 'resolve_model_cfg']
