"""Task predictions of the fused task models drawn on IR | VIS | VFN | CLDyN panels."""
from typing import Optional

from cldyn_mm.registry import HOOKS
from .fusion_visualization_hook import FusionVisualizationHook


@HOOKS.register_module()
class TaskVisualizationHook(FusionVisualizationHook):
    """:class:`FusionVisualizationHook` with the defaults of the fused task models
    (``FusedDetector`` / ``FusedSegmentor``, ``ClosedLoopCLDyN``).

    While drawing it switches the model's ``vis_panels`` on, so every output sample carries
    ``IR | VIS | VFN | CLDyN`` images and the task network's predictions on each, and hands
    it to ``runner.visualizer.add_datasample`` (``FusedDetVisualizer`` /
    ``FusedSegVisualizer`` in the task configs, ``FusionVisualizer`` in the closed loop's):
    each tile shows what the network predicts on that tile's image. Names ``task_<stem>``;
    ``out_dir`` as in :class:`FusionVisualizationHook`. The packed pair is not passed (the
    samples carry their images).

    Args:
        draw (bool): Master switch; configs keep it False, ``tools/test.py --show-dir`` turns it
            on. Defaults to True.
        interval (int): Draw every ``interval``-th iteration. Defaults to 1.
        max_per_batch (int): Samples drawn per drawn batch. Defaults to 2.
        score_thr (float): Detection score threshold. Defaults to 0.3.
        draw_val (bool), draw_test (bool): Where to draw. Defaults False, True.
        vis_panels (bool): Switch the model's ``vis_panels`` on while drawing. Defaults to
            True.
        out_dir (str, optional): Test-time folder for PNG panels.

    Drawing options (tile titles, gap, mask opacity) belong to the visualizer config.
    """

    name_prefix = 'task_'

    def __init__(self,
                 draw: bool = True,
                 interval: int = 1,
                 max_per_batch: int = 2,
                 score_thr: float = 0.3,
                 draw_val: bool = False,
                 draw_test: bool = True,
                 vis_panels: bool = True,
                 out_dir: Optional[str] = None) -> None:
        super().__init__(
            draw=draw,
            interval=interval,
            max_per_batch=max_per_batch,
            score_thr=score_thr,
            draw_val=draw_val,
            draw_test=draw_test,
            vis_panels=vis_panels,
            pass_inputs=False,
            out_dir=out_dir)
