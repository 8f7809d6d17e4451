"""Registered visualizers drawing :class:`~cldyn_mm.structures.FusionDataSample` panels.

One panel per sample, ``IR | VIS | VFN | CLDyN`` (the images the sample carries, see
:meth:`FusionPanelMixin.panel_tiles`), each tile at the sample's original size, titled with its
image's name, white ``gap``-pixel separators between the tiles. On each tile the visualizer
draws the task network's predictions **on that tile's image** (the sample's ``<key>_pred``
fields, which the fused task models fill while drawing); a tile without its own predictions is
left undrawn, except the tile showing the image the task network saw, which gets the sample's
predictions.

* :class:`FusionVisualizer` (MMEngine ``Visualizer``): fusion panels ``IR | VIS | fused``
  (fusers), or ``IR | VIS | VFN | CLDyN``; predictions, when a sample has some, are drawn by
  a :class:`FusedDetVisualizer` / :class:`FusedSegVisualizer` it keeps (the closed loop's
  samples come from several tasks).
* :class:`FusedDetVisualizer` (mmdet ``DetLocalVisualizer``): each tile's boxes drawn by
  ``DetLocalVisualizer.add_datasample`` (dataset classes / palette, ``pred_score_thr``).
* :class:`FusedSegVisualizer` (mmseg ``SegLocalVisualizer``): each tile's class map drawn by
  ``SegLocalVisualizer.add_datasample``; SOD saliency maps as a JET heat overlay.

All three are used like mmdet's visualizers: ``visualizer.add_datasample(name, image,
data_sample, draw_pred=..., out_file=..., pred_score_thr=..., step=...)``; the panel goes to
the vis backends (``LocalVisBackend``, ``TensorboardVisBackend``, ...) and, with ``out_file``,
to that PNG as well (unlike mmdet's, where ``out_file`` replaces the backends), and is
returned (RGB uint8) and kept as the visualizer's image (``get_image()``). Configs choose the
visualizer (``visualizer = dict(type='FusedDetVisualizer', vis_backends=[...])``).
"""
from typing import List, Optional, Tuple, Union

import cv2
import mmcv
import numpy as np
import torch
import torch.nn.functional as F
from mmengine.dist import master_only
from mmengine.structures import BaseDataElement
from mmengine.visualization import Visualizer

from cldyn_mm.registry import VISUALIZERS
from cldyn_mm.structures import PANEL_IMAGES, prediction_sample
from .fusion_panel import concat_tiles, put_title, to_uint8_rgb

Tile = Tuple[str, torch.Tensor, Optional[BaseDataElement]]


def _same_image(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a is b or (a.shape == b.shape and a.device == b.device and torch.equal(a, b))


def split_pair(image: Union[np.ndarray, torch.Tensor],
               size: Optional[Tuple[int, int]] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """A packed pair (``PackFusionInputs``' ``inputs``: (4, H, W) visible B, G, R + infrared
    in [0, 255], or the loaded (H, W, 4) array) -> ``ir`` (1, H, W) and ``vis`` RGB (3, H, W)
    in [0, 1], resized (bilinear) to ``size`` (H, W) when given."""
    x = torch.as_tensor(np.ascontiguousarray(image) if isinstance(image, np.ndarray) else image)
    x = x.detach().float().cpu()
    if x.ndim == 3 and x.shape[-1] == 4 and x.shape[0] != 4:
        x = x.permute(2, 0, 1)
    if x.ndim != 3 or x.shape[0] != 4:
        raise ValueError(f'expected a packed pair (4, H, W) or (H, W, 4) (B, G, R, IR), got '
                         f'shape {tuple(x.shape)}')
    x = x / 255.
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x[None], size=tuple(size), mode='bilinear', align_corners=False)[0]
    return x[3:4].clamp(0, 1), x[[2, 1, 0]].clamp(0, 1)


def saliency_overlay(image: np.ndarray, saliency, alpha: float) -> np.ndarray:
    """``image`` (H, W, 3) uint8 RGB blended with a JET heat map of ``saliency`` ((1, H, W) or
    (H, W) in [0, 1], resized to the image when needed)."""
    sal = saliency.data if isinstance(saliency, BaseDataElement) else saliency
    if isinstance(sal, torch.Tensor):
        sal = sal.detach().float().cpu().numpy()
    sal = np.asarray(sal, dtype=np.float32)
    sal = sal[0] if sal.ndim == 3 else sal
    heat = cv2.applyColorMap((np.clip(sal, 0, 1) * 255).astype(np.uint8),
                             cv2.COLORMAP_JET)[..., ::-1]
    if heat.shape[:2] != image.shape[:2]:
        heat = cv2.resize(heat, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    out = image.astype(np.float32) * (1 - alpha) + heat * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


class FusionPanelMixin:
    """Panel layout and ``add_datasample`` shared by the cldyn_mm visualizers.

    A subclass draws one tile's predictions in :meth:`draw_tile`; drawing through a parent
    visualizer's own ``add_datasample`` is done by :meth:`_draw_by`, which captures the image
    that method would record instead of sending it to the backends.
    """

    def _init_panel(self, gap: int, title: bool) -> None:
        if gap < 0:
            raise ValueError(f'gap must be >= 0, got {gap}')
        self.gap = int(gap)
        self.title = bool(title)
        self._captured: Optional[List[np.ndarray]] = None

    # ------------------------------------------------------------------ layout
    def panel_tiles(self,
                    data_sample: BaseDataElement,
                    image: Union[np.ndarray, torch.Tensor, None] = None) -> List[Tile]:
        """``[(title, image (C, H, W) in [0, 1], predictions or None), ...]`` left to right.

        The panel images the sample carries (``ir_img``, ``vis_img``, ``vfn_img``,
        ``cldyn_img``), with ``image`` (the packed pair, see :func:`split_pair`) filling a
        missing IR / VIS tile; then the fused image (``fused_img``, else ``pred_fused``) as
        ``'fused'`` unless one of those tiles shows it already. A tile's predictions are the
        sample's ``<key>_pred``; the tile of the image the task network saw falls back to the
        sample's own predictions, any other tile without ``<key>_pred`` gets none.
        """
        sample = data_sample
        fused = sample.get('fused_img', None)
        if fused is None:
            fused = sample.get('pred_fused', None)
        images = {k: sample.get(f'{k}_img') for k, _ in PANEL_IMAGES if f'{k}_img' in sample}
        if image is not None and not ('ir' in images and 'vis' in images):
            frame = next(iter(images.values()), fused)
            size = tuple(frame.shape[-2:]) if frame is not None else None
            ir, vis = split_pair(image, size)
            images.setdefault('ir', ir)
            images.setdefault('vis', vis)
        tiles: List[Tile] = []
        for key, title in PANEL_IMAGES:
            if key not in images:
                continue
            img = images[key]
            preds = sample.get(f'{key}_pred', None)
            if preds is None and fused is not None and _same_image(img, fused):
                preds = sample
            tiles.append((title, img, preds))
        if fused is not None and not any(_same_image(t[1], fused) for t in tiles):
            tiles.append(('fused', fused, sample))
        return tiles

    # ------------------------------------------------------------------ drawing
    def draw_tile(self,
                  image: np.ndarray,
                  preds: BaseDataElement,
                  pred_score_thr: float = 0.3) -> np.ndarray:
        """``image`` (H, W, 3) uint8 RGB with the task predictions of ``preds`` drawn."""
        return image

    def _draw_by(self, add_datasample, image: np.ndarray, preds: BaseDataElement,
                 **kwargs) -> np.ndarray:
        """Run a parent visualizer's public ``add_datasample`` on one tile (predictions only,
        no show, no file) and return the image it would record."""
        self._captured = []
        try:
            add_datasample(
                self,
                'tile',
                image,
                preds,
                draw_gt=False,
                draw_pred=True,
                show=False,
                out_file=None,
                step=0,
                **kwargs)
            captured = self._captured
        finally:
            self._captured = None
        return captured[-1] if captured and captured[-1] is not None else image

    def add_image(self, name: str, image: np.ndarray, step: int = 0) -> None:
        if getattr(self, '_captured', None) is not None:  # a tile drawn by _draw_by
            self._captured.append(image)
            return
        super().add_image(name, image, step)

    def draw_panel(self,
                   data_sample: BaseDataElement,
                   image: Union[np.ndarray, torch.Tensor, None] = None,
                   draw_pred: bool = True,
                   pred_score_thr: float = 0.3) -> np.ndarray:
        """The (H, sum W_i + gaps, 3) uint8 RGB panel of one sample (nothing recorded)."""
        tiles = self.panel_tiles(data_sample, image)
        if not tiles:
            raise ValueError(f'{type(self).__name__}: the data sample carries no image to draw '
                             '(fused_img, pred_fused, ir_img, vis_img, vfn_img, cldyn_img) and '
                             'no packed pair was given')
        drawn = []
        for title, img, preds in tiles:
            tile = to_uint8_rgb(img)
            if draw_pred and preds is not None:
                tile = self.draw_tile(tile, preds, pred_score_thr)
            drawn.append(put_title(tile, title) if self.title else tile)
        return concat_tiles(drawn, self.gap)

    @master_only
    def add_datasample(self,
                       name: str,
                       image: Union[np.ndarray, torch.Tensor, None] = None,
                       data_sample: Optional[BaseDataElement] = None,
                       draw_gt: bool = False,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       pred_score_thr: float = 0.3,
                       step: int = 0) -> np.ndarray:
        """Draw the panel of ``data_sample`` and record it.

        Args:
            name (str): Image identifier for the backends.
            image (ndarray | Tensor, optional): The packed pair ((4, H, W) or (H, W, 4),
                visible B, G, R + infrared in [0, 255]); fills the IR / VIS tiles the sample
                lacks (a fuser's samples carry only ``pred_fused``).
            data_sample (FusionDataSample): The sample (see :meth:`panel_tiles`).
            draw_gt (bool): Accepted for the common signature; ground truth is not drawn
                (the task samples keep it at the network's input scale).
            draw_pred (bool): Draw the task predictions. Defaults to True.
            show (bool): Show the panel in a window. Defaults to False.
            wait_time (float): Seconds the window stays. Defaults to 0.
            out_file (str, optional): Also write the panel to this file.
            pred_score_thr (float): Detection score threshold. Defaults to 0.3.
            step (int): Global step for the backends. Defaults to 0.

        Returns:
            np.ndarray: The panel, (H, W, 3) uint8 RGB.
        """
        if data_sample is None:
            raise ValueError(f'{type(self).__name__}.add_datasample needs a data_sample')
        panel = self.draw_panel(data_sample, image, draw_pred, pred_score_thr)
        self.set_image(panel)
        if show:
            self.show(panel, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(panel[..., ::-1], out_file)
        self.add_image(name, panel, step)
        return panel


@VISUALIZERS.register_module()
class FusionVisualizer(FusionPanelMixin, Visualizer):
    """Fusion panels: ``IR | VIS | fused`` for a fuser's samples (IR and VIS from the packed
    pair given as ``image``), ``IR | VIS | VFN | CLDyN`` for samples that carry those images.

    Task predictions, when a sample has them, are drawn per tile by a
    :class:`FusedDetVisualizer` (``pred_instances``) or :class:`FusedSegVisualizer`
    (``pred_sem_seg``, ``pred_saliency``) this visualizer builds on first use (no backends,
    this visualizer's ``dataset_meta`` and ``alpha``), so one visualizer serves several tasks
    (the closed loop). See the module docstring for ``add_datasample``.

    Args:
        name (str): Instance name. Defaults to ``'visualizer'``.
        vis_backends (list, optional): Vis backend configs (``LocalVisBackend``, ...).
        save_dir (str, optional): Folder of the backends (the runner sets it).
        gap (int): Separator width in pixels. Defaults to 4.
        title (bool): Write each tile's image name into it. Defaults to True.
        alpha (float): Opacity of drawn masks / heat maps. Defaults to 0.5.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None,
                 gap: int = 4,
                 title: bool = True,
                 alpha: float = 0.5,
                 **kwargs) -> None:
        super().__init__(
            name=name, image=image, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        self._init_panel(gap, title)
        self.alpha = alpha
        self._task_drawers: dict = {}

    def _task_drawer(self, kind: str) -> FusionPanelMixin:
        drawer = self._task_drawers.get(kind)
        if drawer is None:
            cls = FusedDetVisualizer if kind == 'det' else FusedSegVisualizer
            # built directly (not get_instance): no backends, not the current visualizer
            drawer = cls(name=f'{self.instance_name}_{kind}_tiles', alpha=self.alpha)
            self._task_drawers[kind] = drawer
        if self.dataset_meta is not None:
            drawer.dataset_meta = self.dataset_meta
        return drawer

    def draw_tile(self,
                  image: np.ndarray,
                  preds: BaseDataElement,
                  pred_score_thr: float = 0.3) -> np.ndarray:
        if 'pred_instances' in preds:
            return self._task_drawer('det').draw_tile(image, preds, pred_score_thr)
        if 'pred_saliency' in preds or 'pred_sem_seg' in preds:
            return self._task_drawer('seg').draw_tile(image, preds, pred_score_thr)
        return image


def _detection_visualizer_base():
    from mmdet.visualization import DetLocalVisualizer
    return DetLocalVisualizer


def _segmentation_visualizer_base():
    from mmseg.visualization import SegLocalVisualizer
    return SegLocalVisualizer


def _sorted_corners(instances):
    """Boxes with x1 <= x2, y1 <= y2 (MMEngine asserts it; untrained heads give flipped
    boxes)."""
    if 'bboxes' not in instances or not len(instances):
        return instances
    b = instances.bboxes.float()
    instances = instances.clone()
    instances.bboxes = torch.stack([
        torch.minimum(b[:, 0], b[:, 2]),
        torch.minimum(b[:, 1], b[:, 3]),
        torch.maximum(b[:, 0], b[:, 2]),
        torch.maximum(b[:, 1], b[:, 3])
    ],
                                   dim=1)
    return instances


@VISUALIZERS.register_module()
class FusedDetVisualizer(FusionPanelMixin, _detection_visualizer_base()):
    """Detection panels: on every tile the boxes the detector found on that tile's image,
    drawn by mmdet's ``DetLocalVisualizer.add_datasample`` (boxes with class names and scores
    above ``pred_score_thr``, the dataset palette from ``dataset_meta``).

    Args:
        name, image, vis_backends, save_dir, bbox_color, text_color, mask_color, line_width:
            As mmdet's ``DetLocalVisualizer``.
        alpha (float): Box fill / mask opacity. Defaults to 0.5.
        gap (int): Separator width in pixels. Defaults to 4.
        title (bool): Write each tile's image name into it. Defaults to True.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None,
                 bbox_color=None,
                 text_color=(200, 200, 200),
                 mask_color=None,
                 line_width: Union[int, float] = 3,
                 alpha: float = 0.5,
                 gap: int = 4,
                 title: bool = True) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            bbox_color=bbox_color,
            text_color=text_color,
            mask_color=mask_color,
            line_width=line_width,
            alpha=alpha)
        self._init_panel(gap, title)

    def draw_tile(self,
                  image: np.ndarray,
                  preds: BaseDataElement,
                  pred_score_thr: float = 0.3) -> np.ndarray:
        if 'pred_instances' not in preds:
            return image
        inst = preds.pred_instances.cpu()
        if 'scores' in inst:
            inst = inst[inst.scores > pred_score_thr]
        if not len(inst):
            return image
        sample = prediction_sample(preds, ())
        sample.pred_instances = _sorted_corners(inst)
        return self._draw_by(
            _detection_visualizer_base().add_datasample,
            image,
            sample,
            pred_score_thr=pred_score_thr)


@VISUALIZERS.register_module()
class FusedSegVisualizer(FusionPanelMixin, _segmentation_visualizer_base()):
    """Segmentation / SOD panels: on every tile the class map the segmentor predicted on that
    tile's image, drawn by mmseg's ``SegLocalVisualizer.add_datasample`` (dataset classes /
    palette from ``dataset_meta``); a saliency map (``pred_saliency``, SOD) as a JET heat
    overlay instead.

    Args:
        name, image, vis_backends, save_dir, classes, palette, dataset_name: As mmseg's
            ``SegLocalVisualizer``.
        alpha (float): Mask / heat-map opacity. Defaults to 0.5.
        with_labels (bool): Class names on the masks. Defaults to True.
        gap (int): Separator width in pixels. Defaults to 4.
        title (bool): Write each tile's image name into it. Defaults to True.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 image: Optional[np.ndarray] = None,
                 vis_backends: Optional[list] = None,
                 save_dir: Optional[str] = None,
                 classes: Optional[list] = None,
                 palette: Optional[list] = None,
                 dataset_name: Optional[str] = None,
                 alpha: float = 0.5,
                 with_labels: bool = True,
                 gap: int = 4,
                 title: bool = True) -> None:
        super().__init__(
            name=name,
            image=image,
            vis_backends=vis_backends,
            save_dir=save_dir,
            classes=classes,
            palette=palette,
            dataset_name=dataset_name,
            alpha=alpha)
        self.with_labels = with_labels
        self._init_panel(gap, title)

    def draw_tile(self,
                  image: np.ndarray,
                  preds: BaseDataElement,
                  pred_score_thr: float = 0.3) -> np.ndarray:
        if 'pred_saliency' in preds:
            return saliency_overlay(image, preds.pred_saliency, self.alpha)
        if 'pred_sem_seg' not in preds:
            return image
        sample = prediction_sample(preds, ('pred_sem_seg', ))
        return self._draw_by(
            _segmentation_visualizer_base().add_datasample,
            image,
            sample,
            with_labels=self.with_labels)
