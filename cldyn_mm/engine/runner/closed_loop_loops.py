"""Runner loops for the closed loop: one dataloader (and evaluator) per task.

Config shape (``configs/_base_/closed_loop/cldyn_runtime.py`` sets the loops)::

    train_dataloader = dict(det=<dataloader config>, seg=<dataloader config>)
    train_cfg = dict(type='ClosedLoopTrainLoop', max_iters=..., val_interval=...)
    val_dataloader = dict(det=..., seg=...)
    val_evaluator = dict(det=dict(type='mmdet.CocoMetric', ...), seg=dict(type='mmseg.IoUMetric'))
    val_cfg = dict(type='ClosedLoopValLoop')

The task names are the model's (``model.tasks``). :class:`ClosedLoopTrainLoop` hands the model
``{task: batch}`` each iteration (``model.train_step``); :class:`ClosedLoopValLoop` runs each
task's dataloader through ``model.val_step`` (the batch gets ``task``) and its evaluator, and
reports the metrics as ``<task>/<metric>`` (e.g. ``det/coco/bbox_mAP``, ``seg/mIoU``).
"""
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.evaluator import Evaluator
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner.loops import (BaseLoop, IterBasedTrainLoop, _InfiniteDataloaderIterator,
                                   calc_dynamic_intervals)
from torch.utils.data import DataLoader

from cldyn_mm.registry import LOOPS
from cldyn_mm.utils.rng import get_rng_state, preserved_rng_state, set_rng_state

#: message hub key of the random states after the last training step (saved in checkpoints)
RNG_STATE_KEY = 'closed_loop_rng_state'


def _unwrap(model):
    return model.module if is_model_wrapper(model) else model


def model_task_names(runner) -> Optional[List[str]]:
    """The model's task names (``model.task_names``), None when it has none."""
    names = getattr(_unwrap(runner.model), 'task_names', None)
    return list(names) if names is not None else None


def _check_task_dict(value, what: str) -> Dict:
    """``value`` must map task names to configs / objects (not be a single dataloader)."""
    if not isinstance(value, dict) or not value or 'dataset' in value or 'type' in value:
        raise TypeError(f'{what} must map task names to configs, e.g. '
                        f'{what} = dict(det=dict(batch_size=4, dataset=...)); got '
                        f'{type(value).__name__} with keys '
                        f'{list(value) if isinstance(value, dict) else ""}')
    return value


def build_task_dataloaders(runner, dataloaders: Dict, what: str) -> Dict[str, DataLoader]:
    """Build ``{task: DataLoader}``; an empty dataloader is an error naming the task."""
    _check_task_dict(dataloaders, what)
    built = {}
    for task, cfg in dataloaders.items():
        if isinstance(cfg, DataLoader):
            loader = cfg
        else:
            try:
                loader = runner.build_dataloader(
                    cfg,
                    seed=runner.seed,
                    diff_rank_seed=runner._randomness_cfg.get('diff_rank_seed', False))
            except Exception as e:  # noqa: BLE001 - re-raised naming the task
                raise type(e)(f'{what}.{task}: {e}') from e
        dataset = loader.dataset
        if len(dataset) == 0 or len(loader) == 0:
            root = getattr(dataset, 'data_root', None)
            raise ValueError(f'{what}.{task} is empty: {type(dataset).__name__} '
                             f'(data_root={root!r}) has {len(dataset)} samples and the loader '
                             f'{len(loader)} batches; check the data root, split file and '
                             'batch_size / drop_last')
        built[task] = loader
    return built


def check_tasks(runner, names: Sequence[str], what: str) -> None:
    expected = model_task_names(runner)
    if expected is not None and set(names) != set(expected):
        raise ValueError(f'{what} has tasks {sorted(names)} but the model has tasks '
                         f'{sorted(expected)} (model.tasks); give one entry per task')


@LOOPS.register_module()
class ClosedLoopTrainLoop(IterBasedTrainLoop):
    """Iteration-based training with one dataloader per task.

    Each iteration draws one batch from every task's (endless) dataloader and calls
    ``model.train_step({task: batch}, optim_wrapper)``. On resume, every task's dataloader is
    advanced past the batches already used, as MMEngine's ``IterBasedTrainLoop`` does.

    Args:
        runner (Runner): The runner.
        dataloader (dict): ``{task: dataloader config}`` (the config's ``train_dataloader``).
        max_iters (int): Iterations.
        val_begin (int), val_interval (int), dynamic_intervals: as ``IterBasedTrainLoop``.

    ``self.dataloader`` is the first task's dataloader (what hooks that look at "the"
    training dataloader see); ``self.dataloaders`` has all of them.

    Exact resume: after each step the global random states (python, numpy, torch; they drive
    the RSC's Gumbel noise and main-process augmentation) go into the message hub, hence
    into every checkpoint; a resumed run restores them after advancing the dataloaders.
    Validation runs with the random states preserved, so it does not change training.
    """

    def __init__(self,
                 runner,
                 dataloader: Dict,
                 max_iters: int,
                 val_begin: int = 1,
                 val_interval: int = 1000,
                 dynamic_intervals: Optional[List[Tuple[int, int]]] = None) -> None:
        loaders = build_task_dataloaders(runner, dataloader, 'train_dataloader')
        BaseLoop.__init__(self, runner, next(iter(loaders.values())))
        self.dataloaders = loaders
        self._max_iters = int(max_iters)
        if self._max_iters != max_iters or self._max_iters < 1:
            raise ValueError(f'train_cfg.max_iters must be a positive integer, got {max_iters}')
        self._max_epochs = 1
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False
        meta = getattr(self.dataloader.dataset, 'metainfo', None)
        if meta is not None:
            self.runner.visualizer.dataset_meta = meta
        self.dataloader_iterators = {
            task: _InfiniteDataloaderIterator(loader)
            for task, loader in loaders.items()
        }
        self.dataloader_iterator = next(iter(self.dataloader_iterators.values()))
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            self.val_interval, dynamic_intervals)

    @property
    def task_names(self) -> List[str]:
        return list(self.dataloaders)

    def next_batches(self) -> Dict[str, dict]:
        return {task: next(it) for task, it in self.dataloader_iterators.items()}

    def run(self) -> torch.nn.Module:
        check_tasks(self.runner, self.task_names, 'train_dataloader')
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        if self._iter > 0:
            print_log(
                f'Advance the task dataloaders {self._iter} steps to skip data that '
                'has already been trained',
                logger='current',
                level=logging.WARNING)
            for _ in range(self._iter):
                self.next_batches()
            state = self.runner.message_hub.get_info(RNG_STATE_KEY)
            if state is not None:
                set_rng_state(state)
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            self.run_iter(self.next_batches())
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                with preserved_rng_state():
                    self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_iter(self, data_batch: Dict[str, dict]) -> None:
        self.runner.call_hook('before_train_iter', batch_idx=self._iter, data_batch=data_batch)
        outputs = self.runner.model.train_step(data_batch, optim_wrapper=self.runner.optim_wrapper)
        # before the hooks: CheckpointHook saves in after_train_iter
        self.runner.message_hub.update_info(RNG_STATE_KEY, get_rng_state(), resumed=True)
        self.runner.call_hook(
            'after_train_iter', batch_idx=self._iter, data_batch=data_batch, outputs=outputs)
        self._iter += 1


class _TaskEvalLoop(BaseLoop):
    """Shared part of the per-task validation / test loops."""

    stage = 'val'

    def __init__(self, runner, dataloader: Dict, evaluator: Dict, fp16: bool = False) -> None:
        loaders = build_task_dataloaders(runner, dataloader, f'{self.stage}_dataloader')
        _check_task_dict(evaluator, f'{self.stage}_evaluator')
        if set(evaluator) != set(loaders):
            raise ValueError(f'{self.stage}_evaluator has tasks {sorted(evaluator)} but '
                             f'{self.stage}_dataloader has {sorted(loaders)}')
        BaseLoop.__init__(self, runner, next(iter(loaders.values())))
        self.dataloaders = loaders
        self.evaluators: Dict[str, Evaluator] = {}
        for task, cfg in evaluator.items():
            ev = cfg if isinstance(cfg, Evaluator) else runner.build_evaluator(cfg)
            meta = getattr(loaders[task].dataset, 'metainfo', None)
            if meta is not None:
                ev.dataset_meta = meta
            self.evaluators[task] = ev
        self.fp16 = fp16
        self._current_task = next(iter(loaders))

    @property
    def evaluator(self) -> Evaluator:
        """The evaluator of the task being evaluated (first task outside ``run``)."""
        return self.evaluators[self._current_task]

    @property
    def task_names(self) -> List[str]:
        return list(self.dataloaders)

    def run(self) -> dict:
        check_tasks(self.runner, self.task_names, f'{self.stage}_dataloader')
        self.runner.call_hook(f'before_{self.stage}')
        self.runner.call_hook(f'before_{self.stage}_epoch')
        self.runner.model.eval()
        metrics = {}
        for task, loader in self.dataloaders.items():
            self._current_task = task
            self.dataloader = loader
            meta = getattr(loader.dataset, 'metainfo', None)
            if meta is not None:
                self.runner.visualizer.dataset_meta = meta
            for idx, data_batch in enumerate(loader):
                self.run_iter(idx, task, data_batch)
            task_metrics = self.evaluators[task].evaluate(len(loader.dataset))
            metrics.update({f'{task}/{k}': v for k, v in task_metrics.items()})
        self._current_task = self.task_names[0]
        self.dataloader = self.dataloaders[self._current_task]
        self.runner.call_hook(f'after_{self.stage}_epoch', metrics=metrics)
        self.runner.call_hook(f'after_{self.stage}')
        return metrics

    @torch.no_grad()
    def run_iter(self, idx: int, task: str, data_batch: dict) -> None:
        self.runner.call_hook(f'before_{self.stage}_iter', batch_idx=idx, data_batch=data_batch)
        step = getattr(self.runner.model, f'{self.stage}_step')
        with torch.autocast(
                device_type='cuda' if torch.cuda.is_available() else 'cpu', enabled=self.fp16):
            outputs = step(dict(data_batch, task=task))
        self.evaluators[task].process(data_samples=outputs, data_batch=data_batch)
        self.runner.call_hook(
            f'after_{self.stage}_iter', batch_idx=idx, data_batch=data_batch, outputs=outputs)


@LOOPS.register_module()
class ClosedLoopValLoop(_TaskEvalLoop):
    """Validation with one dataloader and evaluator per task; metrics ``<task>/<name>``.

    Args:
        runner (Runner): The runner.
        dataloader (dict): ``{task: dataloader config}`` (``val_dataloader``).
        evaluator (dict): ``{task: evaluator / metric config}`` (``val_evaluator``).
        fp16 (bool): Autocast during the steps. Defaults to False.
    """
    stage = 'val'


@LOOPS.register_module()
class ClosedLoopTestLoop(_TaskEvalLoop):
    """Test counterpart of :class:`ClosedLoopValLoop` (``test_dataloader`` /
    ``test_evaluator`` per task)."""
    stage = 'test'
