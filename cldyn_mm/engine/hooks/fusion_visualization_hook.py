"""Draw validation / test data samples through the runner's visualizer (``add_datasample``)."""
import os.path as osp
import warnings
from typing import Optional, Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from cldyn_mm.registry import HOOKS


@HOOKS.register_module()
class FusionVisualizationHook(Hook):
    """Hand validation / test samples to ``runner.visualizer.add_datasample``.

    The config's ``visualizer`` decides what is drawn and where it goes (its vis backends:
    ``work_dir/<timestamp>/vis_data/vis_image`` with ``LocalVisBackend``, TensorBoard, ...):
    ``FusionVisualizer`` (the default runtime's) draws ``IR | VIS | fused`` panels,
    ``FusedDetVisualizer`` / ``FusedSegVisualizer`` the task predictions on every tile (see
    :mod:`cldyn_mm.visualization`). Each sample is named ``<prefix><stem>``; during testing with
    ``out_dir`` the panel is also written to ``<out_dir>/<stem>.png`` (a relative ``out_dir``
    lies below ``work_dir/<timestamp>``). Samples without a fused image (``pred_fused`` /
    ``fused_img``) are skipped.

    While it draws (``draw`` and the stage's ``draw_val`` / ``draw_test``), the hook switches
    the model's ``vis_panels`` on for the epoch and restores it afterwards (the fused task
    models then attach the IR / VIS / VFN / CLDyN images and the task network's predictions
    on each).

    Args:
        draw (bool): Master switch. Defaults to True.
        interval (int): Draw every ``interval``-th validation/test iteration. Defaults to 1.
        max_per_batch (int): Samples drawn per drawn batch. Defaults to 2.
        score_thr (float): Detection score threshold (``pred_score_thr``). Defaults to 0.3.
        draw_val (bool), draw_test (bool): Where to draw. Defaults True, True.
        vis_panels (bool): Switch the model's ``vis_panels`` on while drawing. Defaults to
            True.
        pass_inputs (bool): Pass the batch's packed pair as ``add_datasample``'s ``image``
            (it gives the IR / VIS tiles of a fuser's samples). Defaults to True.
        out_dir (str, optional): Test-time folder for panel files.
    """

    priority = 'NORMAL'
    #: prefix of the names given to the visualizer
    name_prefix = 'fusion_'

    def __init__(self,
                 draw: bool = True,
                 interval: int = 1,
                 max_per_batch: int = 2,
                 score_thr: float = 0.3,
                 draw_val: bool = True,
                 draw_test: bool = True,
                 vis_panels: bool = True,
                 pass_inputs: bool = True,
                 out_dir: Optional[str] = None) -> None:
        if interval < 1:
            raise ValueError(f'{type(self).__name__}: interval must be >= 1, got {interval}')
        self.draw = draw
        self.interval = interval
        self.max_per_batch = max_per_batch
        self.score_thr = score_thr
        self.draw_val = draw_val
        self.draw_test = draw_test
        self.vis_panels = vis_panels
        self.pass_inputs = pass_inputs
        self.out_dir = out_dir
        self._saved_vis_panels = None
        self._warned = False

    # ---------------------------------------------------------------- model switch
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

    # ---------------------------------------------------------------- drawing
    def _check_visualizer(self, visualizer) -> bool:
        if hasattr(visualizer, 'panel_tiles'):
            return True
        if not self._warned:
            warnings.warn(f'{type(self).__name__}: the runner\'s visualizer is a '
                          f'{type(visualizer).__name__}, which draws no fusion data samples; '
                          "set visualizer = dict(type='FusionVisualizer' (or "
                          "'FusedDetVisualizer' / 'FusedSegVisualizer'), vis_backends=[...])")
            self._warned = True
        return False

    def _draw(self,
              runner,
              batch_idx: int,
              data_batch: Optional[dict],
              outputs: Sequence,
              step: int,
              out_dir: Optional[str] = None) -> None:
        if batch_idx % self.interval or not self._check_visualizer(runner.visualizer):
            return
        inputs = (data_batch or {}).get('inputs') if self.pass_inputs else None
        for k, sample in enumerate(list(outputs)[:self.max_per_batch]):
            if 'pred_fused' not in sample and 'fused_img' not in sample:
                continue
            name = sample.metainfo.get('stem', f'sample_{batch_idx}_{k}')
            image = inputs[k] if inputs is not None and k < len(inputs) else None
            runner.visualizer.add_datasample(
                f'{self.name_prefix}{name}',
                image,
                sample,
                draw_gt=False,
                draw_pred=True,
                out_file=None if out_dir is None else osp.join(out_dir, f'{name}.png'),
                pred_score_thr=self.score_thr,
                step=step)

    # ---------------------------------------------------------------- runner hooks
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

    def after_val_iter(self,
                       runner,
                       batch_idx: int,
                       data_batch: dict = None,
                       outputs: Sequence = None) -> None:
        if self.draw and self.draw_val and outputs:
            self._draw(runner, batch_idx, data_batch, outputs, runner.iter)

    def after_test_iter(self,
                        runner,
                        batch_idx: int,
                        data_batch: dict = None,
                        outputs: Sequence = None) -> None:
        if self.draw and self.draw_test and outputs:
            out_dir = None
            if self.out_dir is not None:
                out_dir = osp.join(runner.work_dir, runner.timestamp, self.out_dir)
            self._draw(runner, batch_idx, data_batch, outputs, batch_idx, out_dir)
