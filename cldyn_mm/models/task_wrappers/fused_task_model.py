"""Frozen task networks evaluated on fused images (issue 4, item 3).

:class:`FusedDetector` / :class:`FusedSegmentor` take the 4-channel paired batch (visible
B, G, R + infrared, packed by ``PackPairedDetInputs`` / ``PackPairedSegInputs``), fuse it
according to ``mode`` and hand the fused RGB image in [0, 1] to a task adapter's ``predict``,
so that mmdet's / mmseg's metrics evaluate the predictions unchanged in MMEngine's test loop.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from torch import Tensor

from cldyn_mm.registry import MODELS
from cldyn_mm.structures import FusionDataSample, prediction_sample
from cldyn_mm.utils.checkpoint import read_checkpoint
from ..data_preprocessors.paired_data_preprocessor import PairedDataPreprocessor

FUSION_MODES = ('vis', 'ir', 'vfn', 'cldyn')


@MODELS.register_module()
class FusedTaskDataPreprocessor(PairedDataPreprocessor):
    """Stacks / pads the (4, H, W) paired inputs and splits them into the fuser's dict
    (``ir``, ``vis`` RGB, ``vis_ycbcr``, all in [0, 1]); see :class:`PairedDataPreprocessor`.
    Data samples keep their ``img_shape`` and get ``batch_input_shape`` / ``pad_shape``."""


def load_fuser_state_dict(path: str) -> Dict[str, Tensor]:
    """``state_dict`` of an MMEngine checkpoint of a fuser (safe ``weights_only`` loading).

    A checkpoint of a model that holds the fuser as ``fuser`` (a closed-loop run,
    ``ClosedLoopCLDyN``; a fused task wrapper) gives its ``fuser.*`` part."""
    state, _ = read_checkpoint(path, 'fuser_checkpoint')
    if any(k.startswith('fuser.') for k in state):
        # a checkpoint of a model holding the fuser as `fuser` (ClosedLoopCLDyN, the fused
        # task wrappers): its fuser part
        state = {k[len('fuser.'):]: v for k, v in state.items() if k.startswith('fuser.')}
    return state


def load_fuser_weights(fuser: nn.Module, path: str) -> None:
    """Load a fuser checkpoint strictly (its data preprocessor's buffers, if any, ignored);
    the error names the file and the fuser class."""
    state = load_fuser_state_dict(path)
    state = {k: v for k, v in state.items() if not k.startswith('data_preprocessor.')}
    try:
        fuser.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise RuntimeError(f'fuser_checkpoint {path} does not fit '
                           f'{type(fuser).__name__}: {e}') from e


def check_adapter_task(owner: nn.Module, adapter: nn.Module, tasks: Sequence[str]) -> None:
    """Raise when ``adapter``'s task is not one of ``tasks`` (empty: any task)."""
    if tasks and getattr(adapter, 'task', None) not in tasks:
        raise ValueError(f'{type(owner).__name__} needs a task adapter of task '
                         f'{tuple(tasks)}, got {type(adapter).__name__} '
                         f'(task {getattr(adapter, "task", None)!r})')


def build_frozen_fuser(cfg: Optional[dict], checkpoint: Optional[str] = None) -> nn.Module:
    """Build a fuser (default ``VFNFuser``), load ``checkpoint`` strictly when given, freeze
    it and put it in eval mode."""
    fuser = MODELS.build(cfg or dict(type='VFNFuser'))
    if checkpoint:
        load_fuser_weights(fuser, checkpoint)
    fuser.requires_grad_(False)
    fuser.eval()
    return fuser


def plain_image(mode: str, inputs: Dict[str, Tensor], fuser: Optional[nn.Module]) -> Tensor:
    """The uncompensated image of a mode, (B, 3, H, W) RGB in [0, 1]: ``'vis'`` the visible
    image, ``'ir'`` the infrared replicated to 3 channels, ``'vfn'`` the fuser's output."""
    if mode == 'vis':
        return inputs['vis']
    if mode == 'ir':
        return inputs['ir'].expand(-1, 3, -1, -1).contiguous()
    return fuser.fuse(inputs)['fused']


def attach_panels(results: List[FusionDataSample],
                  images: Dict[str, Tensor],
                  fused: Tensor,
                  to_ori,
                  adapter: Optional[nn.Module] = None) -> None:
    """Attach the panel images ``images`` (``{key: (B, 3, H, W)}``, keys of
    :data:`~cldyn_mm.structures.PANEL_IMAGES`) to each result as ``<key>_img`` at its original
    size (``to_ori(img, sample)``); the batch ``fused`` (the one the task network saw) is the
    result's ``fused_img``. With ``adapter``, also ``<key>_pred``: the adapter's predictions
    on that image, one forward per image other than ``fused`` (whose predictions are the
    result's own)."""
    for key, batch in images.items():
        preds = None
        if adapter is not None and batch is not fused:
            # fresh samples (metainfo only): the adapter writes its predictions into them
            preds = adapter.predict(batch, [type(s)(metainfo=s.metainfo) for s in results])
        for i, sample in enumerate(results):
            img = sample.fused_img if batch is fused else to_ori(batch[i], sample)
            setattr(sample, f'{key}_img', img)
            if adapter is not None:
                setattr(sample, f'{key}_pred',
                        prediction_sample(sample if preds is None else preds[i]))


class BaseFusedTaskModel(BaseModel):
    """A frozen task adapter run on fused images (evaluation only).

    Args:
        task_adapter (dict): Config of a task adapter (``MMDetTaskAdapter``,
            ``MMSegTaskAdapter``, ``SODTaskAdapter``).
        fuser (dict, optional): Config of the fusion model (``VFNFuser`` or ``CLDyNFuser``;
            ``CLDyNFuser`` takes ``vfn_checkpoint`` itself). Defaults to ``dict(type='VFNFuser')``.
            Not needed (not built) for ``mode='vis'`` / ``'ir'``.
        fuser_checkpoint (str, optional): MMEngine checkpoint of the fuser (its whole
            ``state_dict``, e.g. of a VFN or CLDyN training run), loaded strictly.
        mode (str): ``'vis'`` (visible RGB), ``'ir'`` (IR replicated to 3 channels), ``'vfn'``
            (VFN fused RGB) or ``'cldyn'`` (CLDyN compensated fusion; the task feature T is
            the adapter's task feature of the plain VFN fused image). Defaults to ``'vfn'``.
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='FusedTaskDataPreprocessor')``.
        vis_panels (bool): For visualization only: also attach the IR, VIS, VFN-fused and
            CLDyN-compensated images to each prediction and, with ``panel_predictions``, the
            task network's predictions on each of them (costs one extra fuser pass and task
            feature where the mode does not compute them anyway, and one task forward per
            image the mode did not feed the network). Defaults to False (evaluation cost
            unchanged); the visualization hooks switch it on while drawing.

    ``predict`` returns one :class:`~cldyn_mm.structures.FusionDataSample` per pair: the
    adapter's data sample (mmdet ``DetDataSample`` / mmseg ``SegDataSample``: metainfo,
    ground truth, ``pred_instances`` / ``pred_sem_seg`` / ``pred_saliency``) carried over, plus
    these images (each a (3, H, W) float tensor, RGB in [0, 1], cropped to ``img_shape`` and
    resized to the sample's ``ori_shape``, i.e. the frame of the predictions):

    * ``fused_img``: the image the task network saw (always);
    * with ``vis_panels=True``: ``ir_img`` (IR replicated to 3 channels), ``vis_img``, and,
      when a fuser is built (modes ``'vfn'`` / ``'cldyn'``), ``vfn_img`` and, for a
      ``CLDyNFuser``, ``cldyn_img``; and, while ``panel_predictions`` is True (the default),
      ``<key>_pred`` for each of them: the task network's predictions on that image
      (``ir_pred``, ``vis_pred``, ...), so every panel tile shows what the network makes of
      its own image. The image of ``mode`` is ``fused_img`` itself and reuses its
      predictions (no second forward).

    ``forward(inputs, data_samples, mode='predict')``: the adapter's predictions (data samples);
    ``mode='tensor'``: the fused batch (B, 3, H, W). There is no training loss (all frozen).
    """

    #: adapter tasks this wrapper accepts
    tasks: Sequence[str] = ()

    def __init__(self,
                 task_adapter: dict,
                 fuser: Optional[dict] = None,
                 fuser_checkpoint: Optional[str] = None,
                 mode: str = 'vfn',
                 data_preprocessor: Optional[dict] = None,
                 vis_panels: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='FusedTaskDataPreprocessor'),
            init_cfg=init_cfg)
        if mode not in FUSION_MODES:
            raise ValueError(f'mode must be one of {FUSION_MODES}, got {mode!r}')
        self.fusion_mode = mode
        self.vis_panels = vis_panels
        #: with ``vis_panels``: predict on every panel image too (see the class docstring)
        self.panel_predictions = True
        self.adapter = MODELS.build(task_adapter)
        check_adapter_task(self, self.adapter, self.tasks)
        self.fuser = None
        self.fuser_checkpoint = fuser_checkpoint
        if mode in ('vfn', 'cldyn'):
            self.fuser = build_frozen_fuser(fuser, fuser_checkpoint)
            if mode == 'cldyn' and not hasattr(self.fuser, 'rsc_ir'):
                raise ValueError(f"mode='cldyn' needs a CLDyNFuser, got "
                                 f'{type(self.fuser).__name__}')

    def load_fuser_checkpoint(self, path: str) -> None:
        load_fuser_weights(self.fuser, path)

    def train(self, mode: bool = True) -> 'BaseFusedTaskModel':
        super().train(mode)
        if self.fuser is not None:
            self.fuser.eval()
        self.adapter.train(False)
        return self

    def init_weights(self) -> None:
        """Only the adapter (re)loads its checkpoint; the fuser keeps its weights."""
        self.adapter.init_weights()
        if self.fuser is not None and self.fuser_checkpoint:
            self.load_fuser_checkpoint(self.fuser_checkpoint)

    @torch.no_grad()
    def fuse(self, inputs: Dict[str, Tensor]) -> Tensor:
        """The image handed to the task network: (B, 3, H, W) RGB in [0, 1]."""
        if self.fusion_mode != 'cldyn':
            return plain_image(self.fusion_mode, inputs, self.fuser)
        return self.compensated(inputs, plain_image('vfn', inputs, self.fuser))

    def compensated(self, inputs: Dict[str, Tensor], vfn_fused: Tensor) -> Tensor:
        """CLDyN fusion compensated with the task feature of the plain VFN image."""
        task_feat = self.adapter.task_feature(vfn_fused)
        return self.fuser.fuse(inputs, task_feat=task_feat)['fused']

    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[List] = None,
                mode: str = 'predict') -> Union[list, Tensor]:
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.fuse(inputs)
        if mode == 'loss':
            raise NotImplementedError(f'{type(self).__name__} is an evaluation wrapper of frozen '
                                      'networks and has no training loss')
        raise ValueError(f"invalid mode {mode!r}; use 'predict' or 'tensor'")

    @torch.no_grad()
    def panel_images(self, inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """All images available for visualization, (B, 3, H, W) each: ``ir``, ``vis`` and,
        with a fuser, ``vfn`` and (CLDyNFuser) ``cldyn``."""
        images = {m: plain_image(m, inputs, None) for m in ('ir', 'vis')}
        if self.fuser is not None:
            images['vfn'] = plain_image('vfn', inputs, self.fuser)
            if hasattr(self.fuser, 'rsc_ir'):
                images['cldyn'] = self.compensated(inputs, images['vfn'])
        return images

    @staticmethod
    def _to_ori(img: Tensor, sample) -> Tensor:
        """(3, Hpad, Wpad) -> (3, H, W) at the sample's ``ori_shape`` (crop to ``img_shape``)."""
        meta = sample.metainfo
        h, w = meta.get('img_shape', img.shape[-2:])[:2]
        img = img[:, :h, :w]
        ori = meta.get('ori_shape', (h, w))[:2]
        if tuple(img.shape[-2:]) != tuple(ori):
            img = F.interpolate(
                img[None].float(), size=tuple(ori), mode='bilinear', align_corners=False)[0]
        return img.float().clamp(0, 1).detach()

    @torch.no_grad()
    def predict(self, inputs: Dict[str, Tensor], data_samples: Optional[List] = None) -> list:
        if self.vis_panels:
            images = self.panel_images(inputs)
            fused = images['cldyn' if self.fusion_mode == 'cldyn' else self.fusion_mode]
        else:
            images, fused = {}, self.fuse(inputs)
        results = [
            FusionDataSample.from_task_sample(s) for s in self.adapter.predict(fused, data_samples)
        ]
        for sample, batch_i in zip(results, fused):
            sample.fused_img = self._to_ori(batch_i, sample)
        attach_panels(results, images, fused, self._to_ori,
                      self.adapter if self.panel_predictions else None)
        return results

    def extra_repr(self) -> str:
        return f'mode={self.fusion_mode!r}, fuser_checkpoint={self.fuser_checkpoint!r}'


@MODELS.register_module()
class FusedDetector(BaseFusedTaskModel):
    """An mmdet detector (``MMDetTaskAdapter``) on fused images; see
    :class:`BaseFusedTaskModel`. Predictions: ``pred_instances`` (mmdet's metrics)."""
    tasks = ('det', )


@MODELS.register_module()
class FusedSegmentor(BaseFusedTaskModel):
    """An mmseg segmentor (``MMSegTaskAdapter`` or ``SODTaskAdapter``) on fused images; see
    :class:`BaseFusedTaskModel`. Predictions: ``pred_sem_seg`` (mmseg's ``IoUMetric``) and,
    for SOD, ``pred_saliency`` (``SODMetric``)."""
    tasks = ('seg', 'sod')
