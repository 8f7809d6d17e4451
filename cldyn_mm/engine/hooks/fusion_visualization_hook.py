"""Write IR | VIS | fused panels through MMEngine's visualizer during validation and test."""
import os.path as osp
from typing import Optional, Sequence

import mmcv
import torch
import torch.nn.functional as F
from mmengine.hooks import Hook

from cldyn_mm.registry import HOOKS
from cldyn_mm.visualization import make_panel


@HOOKS.register_module()
class FusionVisualizationHook(Hook):
    """Draw ``IR | VIS | fused`` panels for validation / test batches.

    Panels go to ``runner.visualizer`` (its vis backends decide where: local files under
    ``work_dir/<timestamp>/vis_data/vis_image``, TensorBoard, ...) named after the pair's stem,
    and, when ``out_dir`` is set during testing, also as PNG files ``<out_dir>/<stem>.png``
    (relative to the run's work dir's timestamp folder).

    Args:
        interval (int): Draw every ``interval``-th validation/test iteration. Defaults to 1.
        max_per_batch (int): Samples drawn per drawn batch. Defaults to 2.
        draw_val (bool), draw_test (bool): Where to draw. Default True, True.
        out_dir (str, optional): Test-time folder for panel files.
    """

    priority = 'NORMAL'

    def __init__(self, interval: int = 1, max_per_batch: int = 2, draw_val: bool = True,
                 draw_test: bool = True, out_dir: Optional[str] = None) -> None:
        if interval < 1:
            raise ValueError(f'FusionVisualizationHook: interval must be >= 1, got {interval}')
        self.interval = interval
        self.max_per_batch = max_per_batch
        self.draw_val = draw_val
        self.draw_test = draw_test
        self.out_dir = out_dir

    @staticmethod
    def panel_for(raw_input: torch.Tensor, sample) -> 'np.ndarray':  # noqa: F821
        """Panel of one sample: ``raw_input`` (4, H, W) in [0, 255] (B, G, R, IR)."""
        x = raw_input.float() / 255.
        ir, vis = x[3:4], x[[2, 1, 0]]
        fused = sample.pred_fused
        if fused.shape[-2:] != x.shape[-2:]:
            fused = F.interpolate(fused[None].float(), size=x.shape[-2:], mode='bilinear',
                                  align_corners=False)[0]
        return make_panel([ir, vis, fused.cpu()])

    def _draw(self, runner, batch_idx: int, data_batch: dict, outputs: Sequence,
              step: int, out_dir: Optional[str] = None) -> None:
        if batch_idx % self.interval:
            return
        for raw, sample in list(zip(data_batch['inputs'], outputs))[:self.max_per_batch]:
            if 'pred_fused' not in sample:
                continue
            panel = self.panel_for(raw, sample)
            name = sample.metainfo.get('stem', f'sample_{batch_idx}')
            runner.visualizer.add_image(f'fusion/{name}', panel, step=step)
            if out_dir is not None:
                mmcv.imwrite(panel[..., ::-1], osp.join(out_dir, f'{name}.png'))

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict = None,
                       outputs: Sequence = None) -> None:
        if self.draw_val and outputs:
            self._draw(runner, batch_idx, data_batch, outputs, runner.iter)

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict = None,
                        outputs: Sequence = None) -> None:
        if self.draw_test and outputs:
            out_dir = None
            if self.out_dir is not None:
                out_dir = osp.join(runner.work_dir, runner.timestamp, self.out_dir)
            self._draw(runner, batch_idx, data_batch, outputs, batch_idx, out_dir)
