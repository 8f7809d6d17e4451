"""Predictions of a fused task wrapper drawn on IR | VIS | VFN | CLDyN panels (issue 4, item 5)."""
import os.path as osp
from typing import Optional, Sequence

import cv2
import mmcv
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from cldyn_mm.registry import HOOKS
from cldyn_mm.visualization import make_panel, to_uint8_rgb

#: panel fields of the wrappers' data samples, left to right, and their titles
PANEL_FIELDS = (('ir_img', 'IR'), ('vis_img', 'VIS'), ('vfn_img', 'VFN'),
                ('cldyn_img', 'CLDyN'))


@HOOKS.register_module()
class TaskVisualizationHook(Hook):
    """Draw the predictions of ``FusedDetector`` / ``FusedSegmentor`` on the fused images.

    For each drawn sample, one panel ``IR | VIS | VFN | CLDyN`` (those of the sample's
    ``ir_img`` / ``vis_img`` / ``vfn_img`` / ``cldyn_img`` fields that are present; only
    ``fused_img`` when the wrapper's ``vis_panels`` is off), with the predictions drawn on every
    tile, white ``gap``-pixel separators, each tile at the sample's ``ori_shape``:

    * detection (``pred_instances``): boxes with class names and scores above ``score_thr``,
      drawn by mmdet's ``DetLocalVisualizer._draw_instances`` (dataset palette);
    * SOD (``pred_saliency``): the saliency map as a JET heat overlay (``alpha``);
    * segmentation (``pred_sem_seg``): class masks with the dataset palette by mmseg's
      ``SegLocalVisualizer._draw_sem_seg``.

    Panels go to ``runner.visualizer`` (``add_image('task_<stem>', ...)``; its vis backends
    decide where) and, during testing with ``out_dir`` set, to ``<out_dir>/<stem>.png``
    (a relative ``out_dir`` lies below ``work_dir/<timestamp>``). The drawing visualizers are
    private instances (no backends); the config's ``visualizer`` stays MMEngine's
    ``Visualizer``.

    Args:
        draw (bool): Master switch; configs keep it False, ``tools/test.py --show-dir`` turns it
            on. Defaults to True.
        interval (int): Draw every ``interval``-th iteration. Defaults to 1.
        max_per_batch (int): Samples drawn per drawn batch. Defaults to 2.
        score_thr (float): Detection score threshold. Defaults to 0.3.
        alpha (float): Mask / heat-map opacity. Defaults to 0.5.
        draw_val (bool), draw_test (bool): Where to draw. Defaults False, True.
        vis_panels (bool): Switch the model's ``vis_panels`` on while drawing (all four
            images). Defaults to True.
        title (bool): Write the tile names (IR, VIS, ...) into the tiles. Defaults to True.
        gap (int): Separator width in pixels. Defaults to 4.
        out_dir (str, optional): Test-time folder for PNG panels.
    """

    priority = 'NORMAL'

    def __init__(self, draw: bool = True, interval: int = 1, max_per_batch: int = 2,
                 score_thr: float = 0.3, alpha: float = 0.5, draw_val: bool = False,
                 draw_test: bool = True, vis_panels: bool = True, title: bool = True,
                 gap: int = 4, out_dir: Optional[str] = None) -> None:
        if interval < 1:
            raise ValueError(f'TaskVisualizationHook: interval must be >= 1, got {interval}')
        self.draw = draw
        self.interval = interval
        self.max_per_batch = max_per_batch
        self.score_thr = score_thr
        self.alpha = alpha
        self.draw_val = draw_val
        self.draw_test = draw_test
        self.vis_panels = vis_panels
        self.title = title
        self.gap = gap
        self.out_dir = out_dir
        self._det_vis = None
        self._seg_vis = None
        self._saved_vis_panels = None

    # ---------------------------------------------------------------- drawing
    def _det_visualizer(self):
        if self._det_vis is None:
            from mmdet.visualization import DetLocalVisualizer
            self._det_vis = DetLocalVisualizer.get_instance(
                f'cldyn_task_vis_det_{id(self)}', alpha=self.alpha)
        return self._det_vis

    def _seg_visualizer(self):
        if self._seg_vis is None:
            from mmseg.visualization import SegLocalVisualizer
            self._seg_vis = SegLocalVisualizer.get_instance(
                f'cldyn_task_vis_seg_{id(self)}', alpha=self.alpha)
        return self._seg_vis

    def draw_predictions(self, image: np.ndarray, sample, meta: dict) -> np.ndarray:
        """``image`` (H, W, 3) uint8 RGB with the sample's predictions drawn on it."""
        classes = meta.get('classes')
        palette = meta.get('palette')
        if 'pred_instances' in sample:
            inst = sample.pred_instances.cpu()
            if 'scores' in inst:
                inst = inst[inst.scores > self.score_thr]
            if 'bboxes' in inst and len(inst):
                # MMEngine asserts x1 <= x2, y1 <= y2 (untrained heads give flipped boxes)
                b = inst.bboxes.float()
                inst = inst.clone()
                inst.bboxes = torch.stack([torch.minimum(b[:, 0], b[:, 2]),
                                           torch.minimum(b[:, 1], b[:, 3]),
                                           torch.maximum(b[:, 0], b[:, 2]),
                                           torch.maximum(b[:, 1], b[:, 3])], dim=1)
            if len(inst) == 0:
                return image.copy()
            return self._det_visualizer()._draw_instances(image.copy(), inst, classes, palette)
        if 'pred_saliency' in sample:
            sal = sample.pred_saliency.data.detach().float().cpu().numpy()[0]
            heat = cv2.applyColorMap((np.clip(sal, 0, 1) * 255).astype(np.uint8),
                                     cv2.COLORMAP_JET)[..., ::-1]
            if heat.shape[:2] != image.shape[:2]:
                heat = cv2.resize(heat, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
            out = image.astype(np.float32) * (1 - self.alpha) + heat * self.alpha
            return np.clip(out + 0.5, 0, 255).astype(np.uint8)
        if 'pred_sem_seg' in sample:
            return self._seg_visualizer()._draw_sem_seg(
                image.copy(), sample.pred_sem_seg.cpu(), classes, palette)
        return image.copy()

    def panel_for(self, sample, meta: dict) -> np.ndarray:
        """The (H, n*W + (n-1)*gap, 3) uint8 RGB panel of one output data sample."""
        tiles = [(sample.get(f), t) for f, t in PANEL_FIELDS if f in sample]
        if not tiles:
            tiles = [(sample.fused_img, 'fused')]
        drawn = []
        for img, name in tiles:
            tile = self.draw_predictions(to_uint8_rgb(img), sample, meta)
            if self.title:
                tile = np.ascontiguousarray(tile)
                cv2.putText(tile, name, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 2,
                            cv2.LINE_AA)
                cv2.putText(tile, name, (3, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4,
                            (255, 255, 255), 1, cv2.LINE_AA)
            drawn.append(tile.astype(np.float32).transpose(2, 0, 1) / 255.)
        return make_panel(drawn, gap=self.gap)

    # ---------------------------------------------------------------- runner hooks
    @staticmethod
    def _model(runner):
        model = runner.model
        return model.module if is_model_wrapper(model) else model

    def _enable_panels(self, runner) -> None:
        model = self._model(runner)
        if self.draw and self.vis_panels and hasattr(model, 'vis_panels'):
            self._saved_vis_panels = model.vis_panels
            model.vis_panels = True

    def _restore_panels(self, runner) -> None:
        if self._saved_vis_panels is not None:
            self._model(runner).vis_panels = self._saved_vis_panels
            self._saved_vis_panels = None

    @staticmethod
    def _dataset_meta(runner, loader) -> dict:
        meta = getattr(getattr(loader, 'dataset', None), 'metainfo', None)
        if meta is None:
            meta = getattr(runner.model, 'dataset_meta', None) or {}
        return dict(meta)

    def _draw(self, runner, batch_idx: int, outputs: Sequence, step: int, meta: dict,
              out_dir: Optional[str] = None) -> None:
        if batch_idx % self.interval:
            return
        for k, sample in enumerate(list(outputs)[:self.max_per_batch]):
            if 'fused_img' not in sample:
                continue
            panel = self.panel_for(sample, meta)
            name = sample.metainfo.get('stem', f'sample_{batch_idx}_{k}')
            runner.visualizer.add_image(f'task_{name}', panel, step=step)
            if out_dir is not None:
                mmcv.imwrite(panel[..., ::-1], osp.join(out_dir, f'{name}.png'))

    def before_val_epoch(self, runner) -> None:
        if self.draw_val:
            self._enable_panels(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._restore_panels(runner)

    def before_test_epoch(self, runner) -> None:
        if self.draw_test:
            self._enable_panels(runner)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._restore_panels(runner)

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict = None,
                       outputs: Sequence = None) -> None:
        if self.draw and self.draw_val and outputs:
            self._draw(runner, batch_idx, outputs, runner.iter,
                       self._dataset_meta(runner, runner.val_dataloader))

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict = None,
                        outputs: Sequence = None) -> None:
        if self.draw and self.draw_test and outputs:
            out_dir = None
            if self.out_dir is not None:
                out_dir = osp.join(runner.work_dir, runner.timestamp, self.out_dir)
            self._draw(runner, batch_idx, outputs, batch_idx,
                       self._dataset_meta(runner, runner.test_dataloader), out_dir)
