"""``FusionDataSample``: the data sample of an infrared / visible pair, its fusion and the task
predictions made on it.

Every cldyn_mm model hands these around: ``PackFusionInputs`` packs one per pair (metainfo
only), a fuser's ``predict`` adds ``pred_fused`` / ``pred_fused_y``, the fused task models
(``FusedDetector`` / ``FusedSegmentor``) and ``ClosedLoopCLDyN`` return one per pair with the
task network's predictions and the images of the visualization panels, and the visualizers
(:mod:`cldyn_mm.visualization`) draw them.

Fields (all optional; a typed property checks the type on assignment):

* images, float tensors in [0, 1] at the pair's original size (``ori_shape``), the frame of
  the predictions: ``ir_img`` (1, H, W) or replicated to (3, H, W); ``vis_img`` visible RGB;
  ``vfn_img`` the plain VFN fusion; ``cldyn_img`` the CLDyN fusion compensated for the task;
  ``fused_img`` the image the task network saw (per the model's ``mode``); ``pred_fused``
  (3, H, W) RGB and ``pred_fused_y`` (1, H, W) a fuser's output;
* task fields with mmdet's / mmseg's names and types: ``gt_instances``, ``pred_instances``,
  ``ignored_instances`` (``InstanceData``); ``gt_sem_seg``, ``pred_sem_seg``, ``seg_logits``
  (``PixelData``); SOD's ``pred_saliency`` (``PixelData`` (1, H, W) in [0, 1]);
* per-image predictions, set only while drawing: ``ir_pred``, ``vis_pred``, ``vfn_pred``,
  ``cldyn_pred`` (a ``FusionDataSample`` with the task network's ``pred_*`` fields on that
  image).

Design: the fused task models run unmodified mmdet / mmseg networks, which fill mmdet's
``DetDataSample`` / mmseg's ``SegDataSample``. ``FusionDataSample`` **composes** rather than
subclasses them: it is a plain ``BaseDataElement`` whose task fields carry the same names and
types as those samples, and :meth:`FusionDataSample.from_task_sample` copies a task sample's
metainfo and fields into it. So one class serves detection, segmentation, SOD and plain
fusion (subclassing would need one class per task, or one deriving from both mmdet's and
mmseg's samples), fusion-only use imports neither mmdet nor mmseg, and what reads these
samples keeps working: mmdet's / mmseg's metrics (they read ``to_dict()``-ed samples by
field name) and ``DetLocalVisualizer`` / ``SegLocalVisualizer.add_datasample`` (they test
``'pred_instances' in sample`` and read the attribute).
"""
from typing import Dict, Optional, Sequence, Tuple

from mmengine.structures import BaseDataElement, InstanceData, PixelData
from torch import Tensor

#: panel images, left to right: (key, title); image field ``<key>_img``, the task network's
#: predictions on it ``<key>_pred``
PANEL_IMAGES: Tuple[Tuple[str, str],
                    ...] = (('ir', 'IR'), ('vis', 'VIS'), ('vfn', 'VFN'), ('cldyn', 'CLDyN'))
#: the task prediction fields (mmdet / mmseg names, SOD's saliency)
TASK_PREDICTION_FIELDS: Tuple[str, ...] = ('pred_instances', 'pred_sem_seg', 'pred_saliency')


def _typed(name: str, dtype, doc: str) -> property:
    """A data field ``name`` stored as ``_<name>`` whose value must be a ``dtype`` (the pattern
    of mmdet's ``DetDataSample``; ``BaseDataElement.keys()`` hides the private twin)."""
    private = f'_{name}'

    def getter(self):
        return getattr(self, private)

    def setter(self, value):
        self.set_field(value, private, dtype=dtype)

    def deleter(self):
        delattr(self, private)

    return property(getter, setter, deleter, doc=doc)


class FusionDataSample(BaseDataElement):
    """Data sample of an infrared / visible pair, its fusion and task predictions (see the
    module docstring for the fields).

    Examples:
        >>> import torch
        >>> sample = FusionDataSample(metainfo=dict(stem='00001', ori_shape=(4, 6)))
        >>> sample.pred_fused = torch.rand(3, 4, 6)
        >>> sample.fused_image().shape
        torch.Size([3, 4, 6])
        >>> sample.ir_img = 'not a tensor'  # doctest: +IGNORE_EXCEPTION_DETAIL
        Traceback (most recent call last):
        AssertionError: not a tensor should be a <class 'torch.Tensor'> ...
    """

    ir_img = _typed('ir_img', Tensor, 'Infrared (1 or 3, H, W) in [0, 1].')
    vis_img = _typed('vis_img', Tensor, 'Visible RGB (3, H, W) in [0, 1].')
    vfn_img = _typed('vfn_img', Tensor, 'Plain VFN fusion, RGB (3, H, W) in [0, 1].')
    cldyn_img = _typed('cldyn_img', Tensor, 'CLDyN compensated fusion, RGB (3, H, W).')
    fused_img = _typed('fused_img', Tensor, 'The image the task network saw, RGB (3, H, W).')
    pred_fused = _typed('pred_fused', Tensor, "A fuser's output, RGB (3, H, W) in [0, 1].")
    pred_fused_y = _typed('pred_fused_y', Tensor, "A fuser's output, Y (1, H, W) in [0, 1].")

    gt_instances = _typed('gt_instances', InstanceData, 'Ground-truth boxes (mmdet).')
    pred_instances = _typed('pred_instances', InstanceData, 'Predicted boxes (mmdet).')
    ignored_instances = _typed('ignored_instances', InstanceData, 'Ignored boxes (mmdet).')
    gt_sem_seg = _typed('gt_sem_seg', PixelData, 'Ground-truth class map (mmseg).')
    pred_sem_seg = _typed('pred_sem_seg', PixelData, 'Predicted class map (mmseg).')
    seg_logits = _typed('seg_logits', PixelData, 'Segmentation logits (mmseg).')
    pred_saliency = _typed('pred_saliency', PixelData, 'Saliency map (1, H, W) in [0, 1].')

    ir_pred = _typed('ir_pred', BaseDataElement, 'Task predictions on ``ir_img``.')
    vis_pred = _typed('vis_pred', BaseDataElement, 'Task predictions on ``vis_img``.')
    vfn_pred = _typed('vfn_pred', BaseDataElement, 'Task predictions on ``vfn_img``.')
    cldyn_pred = _typed('cldyn_pred', BaseDataElement, 'Task predictions on ``cldyn_img``.')

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_task_sample(cls, sample: Optional[BaseDataElement]) -> 'FusionDataSample':
        """A ``FusionDataSample`` with the metainfo and data fields of ``sample`` (e.g. an
        mmdet ``DetDataSample`` / mmseg ``SegDataSample`` the task network filled). Field
        values are shared, not copied. A ``FusionDataSample`` is returned as it is."""
        if isinstance(sample, cls):
            return sample
        new = cls()
        if sample is not None:
            new.set_metainfo(dict(sample.metainfo_items()))
            new.set_data(dict(sample.items()))
        return new

    def task_predictions(self) -> 'FusionDataSample':
        """A new sample with this one's metainfo and only its task prediction fields
        (``pred_instances`` / ``pred_sem_seg`` / ``pred_saliency``), values shared."""
        return prediction_sample(self)

    # ------------------------------------------------------------------ reading
    def fused_image(self) -> Optional[Tensor]:
        """The fusion of this pair: ``fused_img`` (task models) or else ``pred_fused``
        (fusers); None when neither is set."""
        if 'fused_img' in self:
            return self.fused_img
        return self.get('pred_fused')

    def panel_images(self) -> Dict[str, Tensor]:
        """``{key: image}`` of the :data:`PANEL_IMAGES` present, in panel order."""
        return {key: self.get(f'{key}_img') for key, _ in PANEL_IMAGES if f'{key}_img' in self}

    def predictions_on(self, key: str) -> Optional[BaseDataElement]:
        """The task predictions drawn on panel image ``key`` (``'ir'``, ``'vis'``, ``'vfn'``,
        ``'cldyn'``): its ``<key>_pred``, or None when the model did not predict on it."""
        return self.get(f'{key}_pred')

    def has_task_predictions(self) -> bool:
        return any(f in self for f in TASK_PREDICTION_FIELDS)


def prediction_sample(sample: BaseDataElement,
                      fields: Sequence[str] = TASK_PREDICTION_FIELDS) -> FusionDataSample:
    """A :class:`FusionDataSample` with ``sample``'s metainfo and those of ``fields`` it has
    (values shared): the per-image predictions stored as ``<key>_pred``."""
    new = FusionDataSample(metainfo=dict(sample.metainfo_items()))
    for field in fields:
        if field in sample:
            setattr(new, field, getattr(sample, field))
    return new
