"""Keep the closed loop's "best" checkpoint by CLDyN's multi-task rule (spec section 4).

After each validation, task t's indicator (a metric of :class:`ClosedLoopValLoop`,
``<task>/<key>``) is compared with the best value that task has reached so far:

* *improved*: better than its best (the first validation improves every task);
* *much worse*: worse than its best by more than ``tolerance`` (5 %) of the best's magnitude.

The checkpoint is kept when at least ``min(2, number of tasks)`` tasks improved and none is
much worse -- with one task, when it improved. Each task's best is updated whenever it
improves. The kept checkpoint is ``<work_dir>/best.pth`` (model weights only, the previous one
replaced) with ``best.json`` beside it (iteration, indicator values, improved tasks); the
records survive ``resume`` (from the checkpoint, and from ``best_records.json`` in the work dir
for the validation that ran right after the checkpoint was saved).
"""
import json
import logging
import os.path as osp
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmengine.logging import print_log

from cldyn_mm.registry import HOOKS

LESS_KEYS = ('loss', 'mae', 'error')
#: per-task records after the last validation (read back when resuming at that iteration)
RECORDS_FILE = 'best_records.json'


@HOOKS.register_module()
class ClosedLoopBestCheckpointHook(Hook):
    """Args:
        indicators (dict): ``{task: metric key}`` without the task prefix, e.g.
            ``dict(det='coco/bbox_mAP', seg='mIoU', sod='sod/MAE')``.
        rules (dict, optional): ``{task: 'greater' | 'less'}``; by default 'less' for keys
            containing loss / mae / error, else 'greater'.
        tolerance (float): Relative worsening allowed for the other tasks. Defaults to 0.05.
        filename (str): Defaults to ``'best.pth'`` in the work dir.
    """

    priority = 'LOW'

    def __init__(self,
                 indicators: Dict[str, str],
                 rules: Optional[Dict[str, str]] = None,
                 tolerance: float = 0.05,
                 filename: str = 'best.pth') -> None:
        if not isinstance(indicators, dict) or not indicators:
            raise ValueError('ClosedLoopBestCheckpointHook needs indicators={task: metric key}')
        self.indicators = dict(indicators)
        rules = dict(rules or {})
        self.rules = {}
        for task, key in self.indicators.items():
            rule = rules.get(task) or ('less' if any(k in key.lower()
                                                     for k in LESS_KEYS) else 'greater')
            if rule not in ('greater', 'less'):
                raise ValueError(f"rules.{task} must be 'greater' or 'less', got {rule!r}")
            self.rules[task] = rule
        if not 0 <= tolerance < 1:
            raise ValueError(f'tolerance must be in [0, 1), got {tolerance}')
        self.tolerance = tolerance
        self.filename = filename
        self.best: Dict[str, float] = {}
        self.best_iter: Optional[int] = None

    # ------------------------------------------------------------------ the rule
    def _better(self, task: str, value: float, ref: float) -> bool:
        return value > ref if self.rules[task] == 'greater' else value < ref

    def _much_worse(self, task: str, value: float, ref: float) -> bool:
        margin = self.tolerance * abs(ref)
        return value < ref - margin if self.rules[task] == 'greater' else value > ref + margin

    def decide(self, values: Dict[str, float], num_tasks: Optional[int] = None):
        """``(keep, improved tasks, much-worse tasks)`` for indicator ``values`` (of
        ``num_tasks`` tasks, default ``len(values)``; a task without a value is not
        improved); updates the per-task bests."""
        improved = [
            t for t, v in values.items() if t not in self.best or self._better(t, v, self.best[t])
        ]
        worse = [
            t for t, v in values.items() if t in self.best and self._much_worse(t, v, self.best[t])
        ]
        need = min(2, num_tasks if num_tasks is not None else len(values))
        keep = len(improved) >= need and not worse
        for t in improved:
            self.best[t] = values[t]
        return keep, improved, worse

    # ------------------------------------------------------------------ hook methods
    def after_val_epoch(self, runner, metrics: Optional[Dict[str, float]] = None) -> None:
        if not metrics:
            return
        values = {}
        for task, key in self.indicators.items():
            name = f'{task}/{key}'
            if name in metrics:
                values[task] = float(metrics[name])
            elif any(k.startswith(f'{task}/') for k in metrics):
                raise KeyError(f'ClosedLoopBestCheckpointHook: metric {name!r} not in the '
                               f'validation results {sorted(metrics)}; set indicators.{task}')
            else:  # e.g. mmdet's CocoMetric returns nothing when there is no detection
                print_log(
                    f'closed-loop best: task {task!r} gave no metrics in this '
                    'validation; it counts as not improved',
                    logger='current',
                    level=logging.WARNING)
        if not values:
            return
        keep, improved, worse = self.decide(values, num_tasks=len(self.indicators))
        print_log(
            f'closed-loop best: values {values}, improved {improved}, much worse '
            f'{worse} -> {"kept as " + self.filename if keep else "not kept"}',
            logger='current')
        if keep:
            self.best_iter = runner.iter
            runner.save_checkpoint(
                runner.work_dir,
                self.filename,
                save_optimizer=False,
                save_param_scheduler=False,
                by_epoch=False)
            with open(osp.join(runner.work_dir,
                               osp.splitext(self.filename)[0] + '.json'), 'w') as f:
                json.dump(
                    dict(iter=runner.iter, values=values, improved=improved, best=self.best),
                    f,
                    indent=2)
        # the records as of this validation: a run resumed from this iteration's checkpoint
        # (saved before the validation ran) picks them up in before_train
        with open(osp.join(runner.work_dir, RECORDS_FILE), 'w') as f:
            json.dump(dict(iter=runner.iter, best=self.best, best_iter=self.best_iter), f)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        checkpoint.setdefault('meta', {})['closed_loop_best'] = dict(
            best=dict(self.best), best_iter=self.best_iter)

    def before_train(self, runner) -> None:
        """Resuming at an iteration whose validation ran after its checkpoint was saved: take
        the records that validation left in the work dir."""
        path = osp.join(runner.work_dir, RECORDS_FILE)
        if runner.iter > 0 and osp.isfile(path):
            with open(path) as f:
                record = json.load(f)
            if record.get('iter') == runner.iter:
                self.best = {k: float(v) for k, v in record.get('best', {}).items()}
                self.best_iter = record.get('best_iter')

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        record = checkpoint.get('meta', {}).get('closed_loop_best')
        if isinstance(record, dict):
            self.best = {k: float(v) for k, v in record.get('best', {}).items()}
            self.best_iter = record.get('best_iter')
