"""Training task networks on fused images (issue 4, item 4: "stage 1.5").

:class:`TrainableFusedDetector` / :class:`TrainableFusedSegmentor` hold a frozen fuser (built
for ``mode='vfn'`` only) and a *trainable* task network wrapped in its task adapter's class,
so that the fused RGB image in [0, 1] is normalised / padded exactly as the frozen adapter will
do it later (the adapter's own ``preprocess`` / ``prepare_samples`` code path). In ``loss``
mode they return the task network's loss dict; ``predict`` gives mmdet / mmseg data samples
for CocoMetric / IoUMetric / SODMetric.

Checkpoint keys: ``fuser.*`` (when built) and ``adapter.model.*`` -- the layout of
:class:`FusedDetector` / :class:`FusedSegmentor`, so a training checkpoint loads into those
wrappers directly (``tools/test.py CONFIG CKPT``). For a task adapter's ``checkpoint=``
argument (strict loading of the bare network), convert it with
:func:`export_task_checkpoint` (keys ``adapter.model.`` stripped, fuser dropped).
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from torch import Tensor

from cldyn_mm.registry import MODELS
from cldyn_mm.utils.checkpoint import read_checkpoint
from .fused_task_model import (build_frozen_fuser, check_adapter_task, load_fuser_weights,
                               plain_image)

TRAIN_MODES = ('vis', 'ir', 'vfn')
TASK_PREFIX = 'adapter.model.'

_TRAINABLE_CLASSES: Dict[type, type] = {}


class _TrainableAdapterMixin:
    """Turns a (frozen) task adapter class into a trainable one: no freezing, ``train()``
    reaches the task network. Everything else (normalisation, padding, sample geometry, loss,
    predict) is the adapter's own code."""

    def freeze(self) -> None:  # keep the network's own requires_grad flags
        pass

    def train(self, mode: bool = True):
        return nn.Module.train(self, mode)


def trainable_adapter_class(adapter_cls: type) -> type:
    """A subclass of ``adapter_cls`` (e.g. ``MMDetTaskAdapter``) that is not frozen."""
    if adapter_cls not in _TRAINABLE_CLASSES:
        name = f'Trainable{adapter_cls.__name__}'
        cls = type(name, (_TrainableAdapterMixin, adapter_cls), {'__module__': __name__})
        _TRAINABLE_CLASSES[adapter_cls] = cls
        globals()[name] = cls
    return _TRAINABLE_CLASSES[adapter_cls]


def build_trainable_adapter(cfg: dict) -> nn.Module:
    """Build a task adapter config (``type='MMDetTaskAdapter'`` ...) as a trainable adapter."""
    cfg = dict(cfg)
    adapter_type = cfg.pop('type')
    adapter_cls = MODELS.get(adapter_type) if isinstance(adapter_type, str) else adapter_type
    if adapter_cls is None:
        raise KeyError(f'unknown task adapter type {adapter_type!r}')
    return trainable_adapter_class(adapter_cls)(**cfg)


def export_task_checkpoint(src: str, dst: str, prefix: str = TASK_PREFIX) -> Dict[str, Tensor]:
    """Write the task network of a trainer checkpoint ``src`` as a checkpoint ``dst`` that a
    frozen task adapter loads strictly (``MMDetTaskAdapter(checkpoint=dst)``): the keys under
    ``prefix`` with it stripped; ``meta`` (``dataset_meta``) is kept. Returns the state dict."""
    out, meta = read_checkpoint(src, 'fused task trainer checkpoint', prefix=prefix)
    new = dict(state_dict=out)
    if meta:
        new['meta'] = meta
    torch.save(new, dst)
    return out


class BaseFusedTaskTrainer(BaseModel):
    """A trainable task network fed with fused images of a frozen fuser.

    Args:
        task_adapter (dict): A task adapter config (``MMDetTaskAdapter``, ``MMSegTaskAdapter``,
            ``SODTaskAdapter``: ``model=`` / ``config=``, ``model_overrides``, optional
            ``checkpoint`` to start from). It is built trainable (not frozen); its
            normalisation and padding are the frozen adapter's.
        fuser (dict, optional): Fuser config, built for ``mode='vfn'`` only. Defaults to
            ``dict(type='VFNFuser')``. Frozen, eval mode, no gradient.
        fuser_checkpoint (str, optional): MMEngine checkpoint of the fuser (e.g. a VFN
            training run), loaded strictly.
        mode (str): ``'vis'``, ``'ir'`` or ``'vfn'``: the image the task network trains on.
        init_task_weights (bool): Run the task network's own ``init_weights`` when the
            runner initialises the model (its heads' inits, e.g. RTMDet's classification
            bias prior; without them a new RTMDet starts with a classification loss in the
            hundreds). Defaults to True. The adapter's ``checkpoint``, when given, is loaded
            afterwards.
        pretrained_init (bool): Also apply ``init_cfg`` entries of type ``'Pretrained'``
            (e.g. an ImageNet backbone, a download). Defaults to False: they are skipped, so
            nothing is downloaded.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='FusedTaskDataPreprocessor')``.
    """

    tasks: Sequence[str] = ()

    def __init__(self,
                 task_adapter: dict,
                 fuser: Optional[dict] = None,
                 fuser_checkpoint: Optional[str] = None,
                 mode: str = 'vfn',
                 init_task_weights: bool = True,
                 pretrained_init: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='FusedTaskDataPreprocessor'),
            init_cfg=init_cfg)
        if mode not in TRAIN_MODES:
            raise ValueError(f'mode must be one of {TRAIN_MODES}, got {mode!r}')
        self.fusion_mode = mode
        self.init_task_weights = init_task_weights
        self.pretrained_init = pretrained_init
        self.adapter = build_trainable_adapter(task_adapter)
        check_adapter_task(self, self.adapter, self.tasks)
        self.fuser = None
        self.fuser_checkpoint = fuser_checkpoint
        if mode == 'vfn':
            self.fuser = build_frozen_fuser(fuser, fuser_checkpoint)

    @property
    def task_model(self) -> nn.Module:
        """The trainable mmdet / mmseg network."""
        return self.adapter.model

    def load_fuser_checkpoint(self, path: str) -> None:
        load_fuser_weights(self.fuser, path)

    def train(self, mode: bool = True) -> 'BaseFusedTaskTrainer':
        super().train(mode)
        if self.fuser is not None:
            self.fuser.eval()
        return self

    def init_weights(self) -> None:
        """The task network's own init (with ``init_task_weights``; 'Pretrained' entries only
        with ``pretrained_init``); then the adapter's checkpoint and the fuser's are
        (re)loaded. The fuser is never re-initialised."""
        if self.init_task_weights and hasattr(self.task_model, 'init_weights'):
            if not self.pretrained_init:
                _skip_pretrained_init(self.task_model)
            self.task_model.init_weights()
        if self.adapter.checkpoint:
            self.adapter.load_checkpoint(self.adapter.checkpoint)
        if self.fuser is not None and self.fuser_checkpoint:
            self.load_fuser_checkpoint(self.fuser_checkpoint)

    @torch.no_grad()
    def fuse(self, inputs: Dict[str, Tensor]) -> Tensor:
        """The image the task network sees: (B, 3, H, W) RGB in [0, 1], no gradient."""
        return plain_image(self.fusion_mode, inputs, self.fuser).detach()

    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[List] = None,
                mode: str = 'tensor') -> Union[dict, list, Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.fuse(inputs)
        raise ValueError(f"invalid mode {mode!r}; use 'loss', 'predict' or 'tensor'")

    def loss(self, inputs: Dict[str, Tensor], data_samples: List) -> Dict[str, Tensor]:
        """The task network's losses on the fused batch (gradients reach the task network
        only)."""
        return self.adapter.loss(self.fuse(inputs), data_samples)

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None) -> list:
        return self.adapter.predict(self.fuse(inputs), data_samples)

    def extra_repr(self) -> str:
        return (f'mode={self.fusion_mode!r}, fuser_checkpoint={self.fuser_checkpoint!r}, '
                f'init_task_weights={self.init_task_weights}')


def _skip_pretrained_init(model: nn.Module) -> None:
    """Remove ``init_cfg`` entries of type 'Pretrained' (downloads) from every submodule."""
    for module in model.modules():
        cfg = getattr(module, 'init_cfg', None)
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            module.init_cfg = None
        elif isinstance(cfg, list):
            kept = [c for c in cfg if not (isinstance(c, dict) and c.get('type') == 'Pretrained')]
            module.init_cfg = kept or None


@MODELS.register_module()
class TrainableFusedDetector(BaseFusedTaskTrainer):
    """Trains an mmdet detector (``MMDetTaskAdapter`` config) on fused images."""
    tasks = ('det', )


@MODELS.register_module()
class TrainableFusedSegmentor(BaseFusedTaskTrainer):
    """Trains an mmseg segmentor / SOD model (``MMSegTaskAdapter`` / ``SODTaskAdapter``
    config) on fused images."""
    tasks = ('seg', 'sod')


__all__ = [
    'TRAIN_MODES', 'BaseFusedTaskTrainer', 'TrainableFusedDetector', 'TrainableFusedSegmentor',
    'build_trainable_adapter', 'export_task_checkpoint', 'trainable_adapter_class'
]
