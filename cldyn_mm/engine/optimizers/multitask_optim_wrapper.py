"""The closed-loop update as an MMEngine optimizer wrapper: per-task gradients, CAGrad,
per-group clipping, accumulation, AMP, the distributed reduction and the non-finite policy.

The model (:class:`~cldyn_mm.models.ClosedLoopCLDyN`) only computes each task's loss terms and
hands them over::

    optim_wrapper.update_params(task_losses, param_groups=model.trainable_parameter_groups(),
                                model=model)

``task_losses`` is ``{task: {'loss': loss_t, <other terms to log>...}}`` or, as the model
passes it, an iterable of ``(task, terms)`` pairs computed on demand, so that only one task's
autograd graph is alive at a time (the task's gradient is taken before the next task's forward
pass runs). For each task, in order:

1. every term must be finite on every rank (``all_ranks_agree``: one collective decision, so
   no rank is left waiting in a gradient all-reduce); otherwise the non-finite policy applies;
2. ``loss`` is scaled for accumulation (:meth:`scale_loss`) and, with AMP, by the loss scaler;
3. ``g_t = d loss / d params`` (``torch.autograd.grad`` over the parameters of
   ``param_groups``, in their order) goes into a :class:`TaskGradientCombiner`, which
   all-reduces it (mean over ranks) at once and sums it with the task's earlier gradients of
   the same accumulation window; without a loss scaler a non-finite ``g_t`` is a bad state too;
4. ``<task>/<term>`` is logged for every term.

Then the iteration is counted (``inner_count`` + 1, as :meth:`OptimWrapper.backward` counts
it) and, when :meth:`should_update` (every iteration, or every k-th with
``accumulative_counts=k``, or the last one): CAGrad weights alpha of the accumulated task
gradients (``<task>/alpha``), ``sum_t alpha_t g_t`` written to ``.grad``, the gradient norm of
each group clipped to ``clip_norm`` separately (the group named ``bank`` only with
``clip_bank``; ``grad_norm/<group>`` logged for every group, before clipping), :meth:`step`
and :meth:`zero_grad`. A task whose accumulated gradient is all zero is reported and left out
of the weighting; when all are, nothing steps.

Bad states (``nonfinite``): ``'raise'`` raises :class:`NonFiniteTaskLoss` naming the task and
iteration before anything is updated; ``'skip'`` logs a warning, drops the accumulated task
gradients and this iteration's update (optimizer, parameters untouched) and returns
``{'loss': nan}``. With AMP a non-finite gradient is the loss scaler's business (it skips the
step and lowers the scale), as in :class:`~mmengine.optim.AmpOptimWrapper`.

Distributed runs: the model is not wrapped in DDP (``ClosedLoopDistributedWrapper`` only
broadcasts rank 0's weights); the reduction is of each task's gradient, done here.

:class:`AmpMultiTaskOptimWrapper` adds mixed precision as :class:`AmpOptimWrapper` does
(``loss_scale``, ``dtype``, the loss-scaler state in the checkpoint) and also runs on a CPU
(bfloat16 autocast with a CPU ``GradScaler``). ``tools/train.py --amp`` selects it for configs
whose ``optim_wrapper.type`` is ``MultiTaskOptimWrapper``.

The state dict is the optimizer's (plus ``loss_scaler`` for the AMP variant), as for MMEngine's
wrappers: checkpoints written by runs with ``OptimWrapper`` / ``AmpOptimWrapper`` resume here.
The update options are recorded in checkpoints by :class:`CheckpointCompatibilityHook`
(:meth:`closed_loop_options`).
"""
import logging
import math
from contextlib import contextmanager, nullcontext
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub, print_log
from mmengine.optim import OptimWrapper
from torch import Tensor
from torch.optim import Optimizer
from torch.profiler import record_function

from cldyn_mm.registry import OPTIM_WRAPPERS
from ..multitask import TaskGradientCombiner, clip_grad_groups
from ..multitask.task_gradients import all_ranks_agree

NONFINITE_POLICIES = ('raise', 'skip')
CAGRAD_KEYS = ('lam', 'steps', 'lr', 'eps')
# the wrapper types whose options go into a checkpoint's closed_loop_options
MULTITASK_WRAPPER_TYPES = ('MultiTaskOptimWrapper', 'AmpMultiTaskOptimWrapper')
# profiler ranges of the update part of a closed-loop step (the model records the forward
# ones; benchmarks/bench_closed_loop.py reads both)
UPDATE_PHASES = dict(
    backward='cldyn/backward', combine='cldyn/combine_and_clip', step='cldyn/optimizer_step')

TaskTerms = Mapping[str, Tensor]
TaskLosses = Union[Mapping[str, TaskTerms], Iterable[Tuple[str, TaskTerms]]]


class NonFiniteTaskLoss(FloatingPointError):
    """A task's loss (or gradient) in the closed loop was NaN or infinite."""


def update_options(cagrad: Optional[dict] = None,
                   clip_norm: Optional[float] = 1.0,
                   clip_bank: bool = False,
                   **_) -> dict:
    """The update settings recorded in checkpoints (``meta.closed_loop_options``), from the
    wrapper's arguments (a built wrapper's or an ``optim_wrapper`` config's).
    ``cagrad_quadratic`` is the factor of alpha^T Q alpha in the CAGrad objective: 0.5, the
    research code's (earlier versions of this package used 1)."""
    return dict(
        cagrad_quadratic=0.5,
        cagrad=cagrad_settings(cagrad),
        clip_norm=clip_norm,
        clip_bank=bool(clip_bank))


def cagrad_settings(cagrad: Optional[dict] = None) -> dict:
    """The CAGrad settings with the default ``lam`` (0.5, spec section 4) filled in."""
    return {'lam': 0.5, **(cagrad or {})}


def is_multitask_wrapper_config(cfg) -> bool:
    """Whether ``cfg`` is an ``optim_wrapper`` config of one of the wrappers here."""
    return isinstance(cfg, Mapping) and str(cfg.get('type', '')).split('.')[-1] \
        in MULTITASK_WRAPPER_TYPES


@OPTIM_WRAPPERS.register_module()
class MultiTaskOptimWrapper(OptimWrapper):
    """Optimizer wrapper of the closed loop: per-task gradients combined with CAGrad, clipped
    per parameter group, then one optimizer step (see the module docstring).

    Args:
        optimizer (Optimizer): The optimizer (built by the optimizer wrapper constructor from
            ``optim_wrapper.optimizer``).
        accumulative_counts (int): Iterations whose task gradients are summed (per task)
            before one CAGrad combination and step. Defaults to 1.
        clip_grad (None): Not supported (MMEngine's global clipping); use ``clip_norm``.
        cagrad (dict, optional): Settings of :func:`cagrad_weights`: ``lam`` (0.5), ``steps``
            (250), ``lr`` (0.1), ``eps``. With one task the combination is that task's
            gradient.
        clip_norm (float, optional): Gradient-norm limit applied to each parameter group
            (``rsc_ir``, ``rsc_vis`` of :class:`ClosedLoopCLDyN`) separately after the
            combination. Defaults to 1.0 (spec); None disables clipping.
        clip_bank (bool): Also clip the group named ``bank``. Defaults to False: the research
            code leaves the bank unclipped.
        nonfinite (str): What a NaN / inf task loss or gradient does: ``'raise'`` (default) a
            :class:`NonFiniteTaskLoss` naming the task and iteration; ``'skip'`` a warning
            and no update for that iteration.
    """

    def __init__(self,
                 optimizer: Optimizer,
                 accumulative_counts: int = 1,
                 clip_grad: Optional[dict] = None,
                 cagrad: Optional[dict] = None,
                 clip_norm: Optional[float] = 1.0,
                 clip_bank: bool = False,
                 nonfinite: str = 'raise') -> None:
        if clip_grad is not None:
            raise ValueError(
                f'{type(self).__name__} clips each parameter group itself after the CAGrad '
                'combination: set optim_wrapper.clip_norm (and clip_bank) instead of '
                f'clip_grad={clip_grad!r}')
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f'nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}')
        if clip_norm is not None and not clip_norm > 0:
            raise ValueError(f'clip_norm must be > 0 or None, got {clip_norm!r}')
        unknown = sorted(set(cagrad or {}) - set(CAGRAD_KEYS))
        if unknown:
            raise ValueError(f'unknown cagrad settings {unknown}; valid: {list(CAGRAD_KEYS)}')
        super().__init__(optimizer, accumulative_counts=accumulative_counts)
        self.cagrad = cagrad_settings(cagrad)
        self.clip_norm = clip_norm
        self.clip_bank = bool(clip_bank)
        self.nonfinite = nonfinite
        self._combiner: Optional[TaskGradientCombiner] = None

    # ------------------------------------------------------------------ settings
    def closed_loop_options(self) -> dict:
        """The update settings recorded in every checkpoint (with the model's own):
        ``cagrad_quadratic``, ``cagrad``, ``clip_norm``, ``clip_bank``."""
        return update_options(self.cagrad, self.clip_norm, self.clip_bank)

    def clipped_groups(self, groups: Mapping[str, Sequence[nn.Parameter]]) -> Dict[str, list]:
        """The groups whose gradient norm is clipped: all but ``bank`` (unless
        ``clip_bank``); none when ``clip_norm`` is None."""
        if self.clip_norm is None:
            return {}
        return {g: list(ps) for g, ps in groups.items() if g != 'bank' or self.clip_bank}

    def _default_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {
            'params': [
                p for group in self.optimizer.param_groups for p in group['params']
                if p.requires_grad
            ]
        }

    def _combiner_for(self, params: List[nn.Parameter]) -> TaskGradientCombiner:
        combiner = self._combiner
        if combiner is None or [id(p) for p in combiner.params] != [id(p) for p in params]:
            if combiner is not None and combiner.buffers:
                raise RuntimeError('the parameter groups handed to update_params changed while '
                                   'task gradients were being accumulated')
            combiner = self._combiner = TaskGradientCombiner(params, **self.cagrad)
        return combiner

    def _current_iter(self) -> int:
        it = MessageHub.get_current_instance().get_info('iter')
        return int(it) if it is not None else self.inner_count

    def _bad_state(self, message: str) -> None:
        if self.nonfinite == 'raise':
            raise NonFiniteTaskLoss(message)
        print_log(
            message + ' -- update skipped (nonfinite="skip")',
            logger='current',
            level=logging.WARNING)

    # ------------------------------------------------------------------ the update
    def update_params(  # type: ignore[override]
            self,
            task_losses: TaskLosses,
            param_groups: Optional[Mapping[str, Sequence[nn.Parameter]]] = None,
            model: Optional[nn.Module] = None,
            step_kwargs: Optional[dict] = None,
            zero_kwargs: Optional[dict] = None) -> Dict[str, Tensor]:
        """One closed-loop iteration's update from the tasks' loss terms.

        Args:
            task_losses: ``{task: terms}`` or an iterable of ``(task, terms)`` pairs (a
                generator is consumed lazily: each task's forward pass runs after the previous
                task's gradient was taken). ``terms['loss']`` is differentiated; every term is
                checked for finiteness and logged as ``<task>/<term>``.
            param_groups: ``{group name: parameters}``, the parameters that get the task
                gradients (their order fixes the flat gradient's layout) and the groups
                clipped separately. Defaults to one group ``params``: the optimizer's
                parameters that require a gradient.
            model: Given, the forward passes (while ``task_losses`` is consumed) and the
                backward passes run in :meth:`optim_context` (autocast with AMP); the
                combination and the step run outside it.
            step_kwargs, zero_kwargs: Passed to :meth:`step` / :meth:`zero_grad`.

        Returns:
            dict: ``<task>/<term>`` per task, ``loss`` (the sum of the tasks' ``loss``) and,
            on update iterations, ``<task>/alpha`` and ``grad_norm/<group>``; ``{'loss':
            nan}`` when a bad state was skipped.
        """
        if isinstance(task_losses, Tensor):
            raise TypeError(f'{type(self).__name__}.update_params takes the loss terms of each '
                            "task ({task: {'loss': ...}}), not one loss tensor")
        step_kwargs = step_kwargs or {}
        zero_kwargs = zero_kwargs or {}
        groups = {g: list(ps) for g, ps in (param_groups or self._default_groups()).items()}
        combiner = self._combiner_for([p for ps in groups.values() for p in ps])
        stream = task_losses.items() if isinstance(task_losses, Mapping) else task_losses
        step = self._current_iter()
        loss_scaler = getattr(self, 'loss_scaler', None)
        log: Dict[str, Tensor] = {}
        total: Optional[Tensor] = None
        bad = False
        with self.optim_context(model) if model is not None else nullcontext():
            for task, terms in stream:
                if 'loss' not in terms:
                    raise KeyError(f"the terms of task {task!r} have no 'loss' (got "
                                   f'{sorted(terms)})')
                terms = {k: v.float() for k, v in terms.items()}
                values = {k: float(v.detach()) for k, v in terms.items()}
                finite = all(math.isfinite(v) for v in values.values())
                # decided together: a rank that stopped here while the others went on to the
                # gradient all-reduce would leave them waiting (or pair up wrong collectives)
                if not all_ranks_agree(finite, terms['loss'].device):
                    where = '' if not finite else ' on another rank'
                    shown = ', '.join(f'{k}={v}' for k, v in values.items())
                    self._bad_state(f'closed loop: task {task!r} has a non-finite loss{where} '
                                    f'at iteration {step} ({shown} here); nothing was updated')
                    bad = True
                    break
                loss = self.scale_loss(terms['loss'])
                if loss_scaler is not None:
                    loss = loss_scaler.scale(loss)
                with record_function(UPDATE_PHASES['backward']):
                    grads = torch.autograd.grad(loss, combiner.params, allow_unused=True)
                flat = combiner.add(task, grads)
                if loss_scaler is None and not bool(torch.isfinite(flat).all()):
                    self._bad_state(f'closed loop: task {task!r} has a non-finite gradient at '
                                    f'iteration {step}; nothing was updated')
                    bad = True
                    break
                for k, v in terms.items():
                    log[f'{task}/{k}'] = v.detach()
                task_loss = terms['loss'].detach()
                total = task_loss if total is None else total + task_loss
        # one "backward" per iteration, whatever the number of tasks: what
        # OptimWrapper.backward counts for should_update / scale_loss
        self._inner_count += 1
        if bad:
            combiner.reset()
            self.zero_grad(**zero_kwargs)
            return dict(loss=torch.tensor(float('nan')))
        if total is None:
            raise ValueError(f'{type(self).__name__}.update_params got no task losses')
        log['loss'] = total
        if self.should_update():
            log.update(self._apply_update(groups, combiner, step, step_kwargs, zero_kwargs))
        return log

    def _apply_update(self, groups: Dict[str, List[nn.Parameter]], combiner: TaskGradientCombiner,
                      step: int, step_kwargs: dict, zero_kwargs: dict) -> Dict[str, Tensor]:
        with record_function(UPDATE_PHASES['combine']):
            combined, alpha, zero = combiner.combine()
        log = {f'{t}/alpha': torch.tensor(a) for t, a in alpha.items()}
        for task in zero:
            print_log(
                f'closed loop: task {task!r} has an all-zero gradient at iteration '
                f'{step} (its loss does not reach the trained parameters, RSC / the bank: '
                'check the task adapter feature layer and loss); it is left out of this update',
                logger='current',
                level=logging.WARNING)
        if len(zero) == len(alpha):
            combiner.reset()
            self.zero_grad(**zero_kwargs)
            return log
        loss_scaler = getattr(self, 'loss_scaler', None)
        scale = float(loss_scaler.get_scale()) if loss_scaler is not None else 1.0
        clipped = self.clipped_groups(groups)
        with record_function(UPDATE_PHASES['combine']):
            combiner.write_grads(combined)
            # every group's norm is logged (before clipping); only clipped groups are limited
            norms = clip_grad_groups(clipped, self.clip_norm, scale)
            norms.update(
                clip_grad_groups({
                    g: ps
                    for g, ps in groups.items() if g not in clipped
                }, None, scale))
        log.update({f'grad_norm/{g}': torch.tensor(n) for g, n in norms.items()})
        with record_function(UPDATE_PHASES['step']):
            self.step(**step_kwargs)
        self.zero_grad(**zero_kwargs)
        combiner.reset()
        return log

    def __repr__(self) -> str:
        return (f'{super().__repr__()}\ncagrad={self.cagrad}, clip_norm={self.clip_norm}, '
                f'clip_bank={self.clip_bank}, nonfinite={self.nonfinite!r}')


@OPTIM_WRAPPERS.register_module()
class AmpMultiTaskOptimWrapper(MultiTaskOptimWrapper):
    """:class:`MultiTaskOptimWrapper` with automatic mixed precision, as MMEngine's
    :class:`AmpOptimWrapper`: the forward passes run under autocast (:meth:`optim_context`),
    each task's loss goes through the loss scaler, the clipping threshold is scaled with it, and
    :meth:`step` unscales, skips steps with non-finite gradients and updates the scale.

    Unlike MMEngine's, it also builds without a GPU: on a CPU it autocasts to bfloat16 and uses
    ``torch.amp.GradScaler('cpu')``.

    Args:
        loss_scale (str | float | dict): ``'dynamic'`` (default), a static scale, or the
            arguments of ``torch.amp.GradScaler``.
        dtype (str | torch.dtype, optional): The autocast dtype (``'float16'``,
            ``'bfloat16'``, ...); None: the device's default (bfloat16 on a CPU, the only one
            supported there).
        **kwargs: The arguments of :class:`MultiTaskOptimWrapper`.
    """

    valid_dtypes = ('float16', 'bfloat16', 'float32', 'float64')

    def __init__(self,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        self.device_type = 'cuda' if torch.cuda.is_available() else 'cpu'
        if isinstance(dtype, str):
            if dtype not in self.valid_dtypes:
                raise ValueError(f'dtype should be one of {self.valid_dtypes}, got {dtype!r}')
            dtype = getattr(torch, dtype)
        if dtype is not None and not isinstance(dtype, torch.dtype):
            raise TypeError(f'dtype should be None, a str or a torch.dtype, got {dtype!r}')
        if self.device_type == 'cpu' and dtype not in (None, torch.bfloat16):
            raise ValueError(f'autocast on a CPU runs in bfloat16, got dtype={dtype}')
        self.cast_dtype = dtype
        self._scale_update_param = None
        if loss_scale == 'dynamic':
            self.loss_scaler = torch.amp.GradScaler(self.device_type)
        elif isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool):
            self._scale_update_param = float(loss_scale)
            self.loss_scaler = torch.amp.GradScaler(self.device_type, init_scale=float(loss_scale))
        elif isinstance(loss_scale, Mapping):
            self.loss_scaler = torch.amp.GradScaler(self.device_type, **loss_scale)
        else:
            raise TypeError(f'loss_scale must be a float, a dict or "dynamic", got {loss_scale!r}')

    def step(self, **kwargs) -> None:
        """Unscale, step unless a gradient is non-finite, update the scale."""
        self.loss_scaler.step(self.optimizer, **kwargs)
        self.loss_scaler.update(self._scale_update_param)

    def state_dict(self) -> dict:
        """The optimizer's state dict plus ``loss_scaler`` (as :class:`AmpOptimWrapper`)."""
        state_dict = super().state_dict()
        state_dict['loss_scaler'] = self.loss_scaler.state_dict()
        return state_dict

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        if 'loss_scaler' in state_dict:
            self.loss_scaler.load_state_dict(state_dict.pop('loss_scaler'))
        if 'base_param_settings' in state_dict:
            self.base_param_settings = state_dict.pop('base_param_settings')
        self.optimizer.load_state_dict(state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        """:meth:`OptimWrapper.optim_context` under autocast to :attr:`cast_dtype`."""
        from mmengine.runner.amp import autocast
        with super().optim_context(model), autocast(
                device_type=self.device_type, dtype=self.cast_dtype):
            yield
