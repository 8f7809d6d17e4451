"""CLDyN's closed-loop training model (spec section 4): RSC + bank trained through frozen
task networks with the reward-penalty loss and CAGrad-weighted task gradients.

:class:`ClosedLoopCLDyN` holds one :class:`CLDyNFuser` (frozen VFN, trainable RSC chains and
basis vector bank) and one frozen task adapter per task (``tasks=dict(det=..., seg=...)``).
Its ``train_step`` takes one batch per task, ``{task: batch}`` (what
:class:`ClosedLoopTrainLoop` hands it), and carries out one closed-loop step:

for each task t, in the order of ``tasks``:
  1. without gradient: plain VFN fusion F0, task feature T = adapter feature of F0,
     L0 = task loss on F0;
  2. compensated fusion F1 = CLDyN(inputs, T) and L1 = task loss on F1;
  3. loss_t = L1 + w * relu(L1 - L0)  (w = ``penalty_weight``, spec 5);
  4. g_t = d loss_t / d (RSC + bank parameters), all-reduced over ranks.

then, when the optimizer wrapper says the update is due (every iteration, or every k-th with
``accumulative_counts=k``): alpha = CAGrad weights of the accumulated (g_t), gradient
sum_t alpha_t g_t, gradient norm of each chain (rsc_ir, rsc_vis) clipped to ``clip_norm``
separately (the bank unclipped, as in the research code), and ``optim_wrapper.step()`` -- so
``optim_wrapper`` settings (optimizer, param schedulers, ``AmpOptimWrapper``,
``accumulative_counts``) work as for any MMEngine model. Nothing but RSC (the A2SI set
prototypes included, as the research code's ``to_train`` does) and the bank ever gets a
gradient.

Validation / test (``val_step`` / ``test_step``): the batch carries ``task`` (added by
:class:`ClosedLoopValLoop`); the output is that adapter's predictions on the CLDyN
compensated fusion -- the ``'cldyn'`` mode of :class:`FusedDetector` / :class:`FusedSegmentor`.
"""
import logging
import math
from typing import Dict, List, Optional, Union

import torch
import torch.nn as nn
from mmengine.logging import MessageHub, print_log
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch import Tensor
from torch.profiler import record_function

from cldyn_mm.engine.multitask import TaskGradientCombiner, clip_grad_groups
from cldyn_mm.engine.multitask.task_gradients import all_ranks_agree
from cldyn_mm.registry import MODELS
from cldyn_mm.structures import FusionDataSample
from ..losses.reward_penalty_loss import reward_penalty_loss
from ..task_wrappers.fused_task_model import BaseFusedTaskModel, attach_panels, load_fuser_weights

NONFINITE_POLICIES = ('raise', 'skip')
# profiler ranges of one closed-loop step (torch.profiler; benchmarks/bench_closed_loop.py)
PHASES = dict(
    frozen='cldyn/frozen_path',
    compensated='cldyn/compensated_fusion',
    task_loss='cldyn/task_loss',
    backward='cldyn/backward',
    combine='cldyn/combine_and_clip',
    step='cldyn/optimizer_step')


class NonFiniteTaskLoss(FloatingPointError):
    """A task's loss (or gradient) in the closed loop was NaN or infinite."""


@MODELS.register_module()
class ClosedLoopCLDyN(BaseModel):
    """Closed-loop (reward-penalty) training of CLDyN's RSC for frozen task networks.

    Args:
        tasks (dict): ``{name: task adapter config}`` (``MMDetTaskAdapter``,
            ``MMSegTaskAdapter``, ``SODTaskAdapter``; give each its trained ``checkpoint``).
            One, two or three tasks; the order is the order of the per-task steps. Adapters
            are frozen and stay in eval mode.
        fuser (dict): A ``CLDyNFuser`` config; its ``vfn_checkpoint`` is the VFN of stage 1.
        fuser_checkpoint (str, optional): A whole CLDyN fuser checkpoint (e.g. converted from
            the research code, or an earlier closed-loop run) to start from.
        penalty_weight (float): w of the reward-penalty loss. Defaults to 5 (spec).
        cagrad (dict): Settings of :func:`cagrad_weights`: ``lam`` (0.5), ``steps`` (250),
            ``lr`` (0.1). With one task the combination is that task's gradient.
        clip_norm (float, optional): Gradient-norm limit applied to each RSC chain
            (``rsc_ir``, ``rsc_vis``) separately after the combination. Defaults to 1.0
            (spec); None disables clipping.
        clip_bank (bool): Also clip the bank's gradient norm to ``clip_norm`` (a group of its
            own). Defaults to False: the research code leaves the bank unclipped.
        freeze_prototypes (bool): Keep the A2SI set prototypes (``selector.prototypes``) at
            their orthogonal initialisation. Defaults to False: the research code trains them.
        bf16_autocast (bool): Run the step's forward passes (frozen path, compensated fusion,
            task losses) under ``torch.autocast(<device>, torch.bfloat16)``; gradients, the
            CAGrad combination and the update stay in fp32. For CPUs with bf16 matrix units
            (AMX, AVX512-BF16), where it is faster; on CPUs without them it is much slower (see
            docs/benchmarks.md). On a GPU use ``--amp`` (AmpOptimWrapper) instead. Defaults to
            False (fp32).
        nonfinite (str): What a NaN / inf task loss or gradient does: ``'raise'`` (default) a
            :class:`NonFiniteTaskLoss` naming the task and iteration, before anything is
            updated; ``'skip'`` logs a warning and drops the update (the optimizer, bank and
            RSC are untouched for that step).
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='FusedTaskDataPreprocessor')``.
    """

    def __init__(self,
                 tasks: Dict[str, dict],
                 fuser: dict,
                 fuser_checkpoint: Optional[str] = None,
                 penalty_weight: float = 5.0,
                 cagrad: Optional[dict] = None,
                 clip_norm: Optional[float] = 1.0,
                 clip_bank: bool = False,
                 freeze_prototypes: bool = False,
                 bf16_autocast: bool = False,
                 nonfinite: str = 'raise',
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='FusedTaskDataPreprocessor'),
            init_cfg=init_cfg)
        if not isinstance(tasks, dict) or not tasks:
            raise ValueError('model.tasks must be a non-empty dict {task name: task adapter '
                             f'config}}, got {tasks!r}')
        if nonfinite not in NONFINITE_POLICIES:
            raise ValueError(f'nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}')
        if penalty_weight < 0:
            raise ValueError(f'penalty_weight must be >= 0, got {penalty_weight}')
        self.fuser = MODELS.build(fuser)
        if not hasattr(self.fuser, 'trainable_parameter_groups'):
            raise TypeError(f'model.fuser must be a CLDyNFuser (RSC + bank), got '
                            f'{type(self.fuser).__name__}')
        self.fuser_checkpoint = fuser_checkpoint
        if fuser_checkpoint:
            load_fuser_weights(self.fuser, fuser_checkpoint)
        self.tasks = nn.ModuleDict()
        for name, cfg in tasks.items():
            try:
                self.tasks[name] = MODELS.build(cfg)
            except Exception as e:  # noqa: BLE001 - re-raised naming the task
                raise type(e)(f'model.tasks.{name}: {e}') from e
        self.penalty_weight = float(penalty_weight)
        self.cagrad = {'lam': 0.5, **(cagrad or {})}
        self.clip_norm = clip_norm
        self.clip_bank = bool(clip_bank)
        self.freeze_prototypes = bool(freeze_prototypes)
        self.bf16_autocast = bool(bf16_autocast)
        self.nonfinite = nonfinite
        self._combiner: Optional[TaskGradientCombiner] = None
        self._steps = 0
        #: visualization only: predict on every panel image too (the hooks set it)
        self.vis_panels = False
        # everything but RSC + bank (prototypes unless frozen) is frozen
        for p in self.parameters():
            p.requires_grad_(False)
        for p in self.trainable_parameters():
            p.requires_grad_(True)

    # ------------------------------------------------------------------ structure
    @property
    def task_names(self) -> List[str]:
        return list(self.tasks.keys())

    def train(self, mode: bool = True) -> 'ClosedLoopCLDyN':
        """RSC / bank follow ``mode``; the VFN and the task networks stay in eval mode."""
        super().train(mode)
        self.fuser.train(mode)
        for adapter in self.tasks.values():
            adapter.train(False)
        return self

    def init_weights(self) -> None:
        """RSC and the bank keep their construction-time init (zero convs at zero, so the
        untrained model is the plain VFN); task networks reload their checkpoints; the VFN
        and ``fuser_checkpoint`` are loaded again."""
        for adapter in self.tasks.values():
            adapter.init_weights()
        if self.fuser.vfn_checkpoint:
            self.fuser.load_vfn_checkpoint(self.fuser.vfn_checkpoint)
        if self.fuser_checkpoint:
            load_fuser_weights(self.fuser, self.fuser_checkpoint)

    def trainable_parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """``{'rsc_ir', 'rsc_vis', 'bank'}`` -> the parameters the closed loop updates (the
        fuser's groups, without the set prototypes when ``freeze_prototypes``)."""
        groups = self.fuser.trainable_parameter_groups()
        if self.freeze_prototypes:
            frozen = {id(p) for p in self.fuser.prototype_parameters()}
            groups = {g: [p for p in ps if id(p) not in frozen] for g, ps in groups.items()}
        return groups

    def trainable_parameters(self) -> List[nn.Parameter]:
        """The updated parameters in a fixed order (chains, then the bank)."""
        return [p for group in self.trainable_parameter_groups().values() for p in group]

    def clipped_parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        """The groups whose gradient norm is clipped: the two chains (research code), plus
        the bank with ``clip_bank``."""
        return {
            g: ps
            for g, ps in self.trainable_parameter_groups().items() if g != 'bank' or self.clip_bank
        }

    def closed_loop_options(self) -> dict:
        """The settings that define the closed-loop update, recorded in every checkpoint
        (:class:`CheckpointCompatibilityHook` compares them when a run is resumed).
        ``cagrad_quadratic`` is the factor of alpha^T Q alpha in the CAGrad objective:
        0.5, the research code's (earlier versions of this package used 1)."""
        return dict(
            penalty_weight=self.penalty_weight,
            cagrad_quadratic=0.5,
            cagrad=dict(self.cagrad),
            clip_norm=self.clip_norm,
            clip_bank=self.clip_bank,
            freeze_prototypes=self.freeze_prototypes,
            bf16_autocast=self.bf16_autocast)

    @property
    def combiner(self) -> TaskGradientCombiner:
        if self._combiner is None:
            self._combiner = TaskGradientCombiner(self.trainable_parameters(), **self.cagrad)
        return self._combiner

    # ------------------------------------------------------------------ images / losses
    def _adapter(self, task: str) -> nn.Module:
        if task not in self.tasks:
            raise KeyError(f'unknown task {task!r}; this model has tasks {self.task_names}')
        return self.tasks[task]

    @torch.no_grad()
    def plain_and_feature(self, task: str, inputs: Dict[str, Tensor]):
        """``(F0, T)``: the plain VFN fusion (B, 3, H, W) RGB in [0, 1] and the task network's
        feature of it; no gradient."""
        plain = self.fuser.fuse(inputs)['fused']
        return plain, self._adapter(task).task_feature(plain)

    @torch.no_grad()
    def compensated_images(self, task: str, inputs: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """``{'vfn': F0, 'task_feat': T, 'cldyn': F1}`` for one task (no gradient), images
        (B, 3, H, W) RGB in [0, 1]."""
        plain, feat = self.plain_and_feature(task, inputs)
        comp = self.fuser.fuse(inputs, task_feat=feat)['fused']
        return dict(vfn=plain, task_feat=feat, cldyn=comp)

    def task_losses(self, task: str, inputs: Dict[str, Tensor],
                    data_samples: list) -> Dict[str, Tensor]:
        """Steps 1-3 for one task: ``loss_plain`` L0 (no gradient), ``loss_comp`` L1,
        ``penalty`` relu(L1 - L0) and ``loss`` = L1 + w * penalty (gradient reaches RSC and
        the bank only)."""
        adapter = self._adapter(task)
        with torch.no_grad(), record_function(PHASES['frozen']):
            # the frozen path: VFN encoder block 0 (shared with F1: RSC acts after it), F0,
            # and L0 and T from one pass of the task network
            first = self.fuser.encode_first_block(inputs)
            plain = self.fuser.fuse(inputs, first_block=first)['fused']
            losses, feat = adapter.loss_and_feature(plain, data_samples)
            loss_plain = adapter.total_loss(losses).detach()
        with record_function(PHASES['compensated']):
            comp = self.fuser.fuse(inputs, task_feat=feat, first_block=first)['fused']
        with record_function(PHASES['task_loss']):
            loss_comp = adapter.total_loss(adapter.loss(comp, data_samples))
        loss = reward_penalty_loss(loss_comp, loss_plain, self.penalty_weight)
        return dict(
            loss=loss,
            loss_plain=loss_plain,
            loss_comp=loss_comp,
            penalty=torch.relu(loss_comp.detach() - loss_plain))

    # ------------------------------------------------------------------ training
    def _autocast(self, device: torch.device):
        """bf16 autocast of the forward passes with ``bf16_autocast``; a no-op otherwise."""
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=self.bf16_autocast)

    def _current_iter(self) -> int:
        hub = MessageHub.get_current_instance()
        it = hub.get_info('iter')
        return int(it) if it is not None else self._steps

    def _bad_state(self, message: str) -> None:
        if self.nonfinite == 'raise':
            raise NonFiniteTaskLoss(message)
        print_log(
            message + ' -- update skipped (nonfinite="skip")',
            logger='current',
            level=logging.WARNING)

    def train_step(self, data: Dict[str, dict], optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One closed-loop iteration on ``{task: batch}``; returns the values to log:
        ``{task}/L0``, ``{task}/L1``, ``{task}/penalty``, ``{task}/loss`` and, on update
        iterations, ``{task}/alpha`` and the group gradient norms ``grad_norm/{group}``."""
        if not isinstance(data, dict) or set(data) != set(self.task_names):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f'ClosedLoopCLDyN.train_step needs one batch per task '
                             f'{self.task_names}, got {got}; use ClosedLoopTrainLoop with '
                             'train_dataloader = dict(<task>=<dataloader config>, ...)')
        step = self._current_iter()
        combiner = self.combiner
        params = combiner.params
        loss_scaler = getattr(optim_wrapper, 'loss_scaler', None)
        log: Dict[str, Tensor] = {}
        total = 0.0
        bad = False
        with optim_wrapper.optim_context(self):
            for task in self.task_names:
                batch = self.data_preprocessor(data[task], True)
                with self._autocast(batch['inputs']['ir'].device):
                    out = self.task_losses(task, batch['inputs'], batch['data_samples'])
                out = {k: v.float() for k, v in out.items()}
                values = {k: float(v.detach()) for k, v in out.items()}
                finite = all(math.isfinite(v) for v in values.values())
                # decided together: a rank that stopped here while the others went on to the
                # gradient all-reduce would leave them waiting (or pair up wrong collectives)
                if not all_ranks_agree(finite, out['loss'].device):
                    where = '' if not finite else ' on another rank'
                    self._bad_state(f'closed loop: task {task!r} has a non-finite loss{where} '
                                    f'at iteration {step} (L0={values["loss_plain"]}, '
                                    f'L1={values["loss_comp"]} here); nothing was updated')
                    bad = True
                    break
                loss = optim_wrapper.scale_loss(out['loss'])
                if loss_scaler is not None:
                    loss = loss_scaler.scale(loss)
                with record_function(PHASES['backward']):
                    grads = torch.autograd.grad(loss, params, allow_unused=True)
                flat = combiner.add(task, grads)
                if loss_scaler is None and not bool(torch.isfinite(flat).all()):
                    self._bad_state(f'closed loop: task {task!r} has a non-finite gradient at '
                                    f'iteration {step}; nothing was updated')
                    bad = True
                    break
                log[f'{task}/L0'] = out['loss_plain']
                log[f'{task}/L1'] = out['loss_comp'].detach()
                log[f'{task}/penalty'] = out['penalty']
                log[f'{task}/loss'] = out['loss'].detach()
                total = total + out['loss'].detach()
        # one "backward" per iteration for the wrapper's accumulation bookkeeping (what
        # OptimWrapper.backward counts; the task gradients were taken with autograd.grad)
        optim_wrapper._inner_count += 1
        self._steps += 1
        if bad:
            combiner.reset()
            optim_wrapper.zero_grad()
            return dict(loss=torch.tensor(float('nan')))
        log['loss'] = total if isinstance(total, Tensor) else torch.tensor(total)
        if optim_wrapper.should_update():
            log.update(self._apply_update(optim_wrapper, step))
        return log

    def _apply_update(self, optim_wrapper: OptimWrapper, step: int) -> Dict[str, Tensor]:
        combiner = self.combiner
        with record_function(PHASES['combine']):
            combined, alpha, zero = combiner.combine()
        log = {f'{t}/alpha': torch.tensor(a) for t, a in alpha.items()}
        for task in zero:
            print_log(
                f'closed loop: task {task!r} has an all-zero gradient at iteration '
                f'{step} (its loss does not reach RSC / the bank: check the task '
                'adapter feature layer and loss); it is left out of this update',
                logger='current',
                level=logging.WARNING)
        if len(zero) == len(alpha):
            combiner.reset()
            optim_wrapper.zero_grad()
            return log
        loss_scaler = getattr(optim_wrapper, 'loss_scaler', None)
        scale = float(loss_scaler.get_scale()) if loss_scaler is not None else 1.0
        clipped = self.clipped_parameter_groups() if self.clip_norm is not None else {}
        with record_function(PHASES['combine']):
            combiner.write_grads(combined)
            # every group's norm is logged (before clipping); only clipped groups are limited
            norms = clip_grad_groups(clipped, self.clip_norm, scale)
            norms.update(
                clip_grad_groups(
                    {
                        g: ps
                        for g, ps in self.trainable_parameter_groups().items() if g not in clipped
                    }, None, scale))
        log.update({f'grad_norm/{g}': torch.tensor(n) for g, n in norms.items()})
        with record_function(PHASES['step']):
            optim_wrapper.step()
        optim_wrapper.zero_grad()
        combiner.reset()
        return log

    # ------------------------------------------------------------------ val / test
    def _split_task(self, data: dict):
        if not isinstance(data, dict) or 'task' not in data:
            raise ValueError('ClosedLoopCLDyN.val_step / test_step need the batch\'s task '
                             "(data['task']); use ClosedLoopValLoop / ClosedLoopTestLoop")
        data = dict(data)
        return data.pop('task'), data

    def val_step(self, data: dict) -> list:
        task, batch = self._split_task(data)
        batch = self.data_preprocessor(batch, False)
        return self.predict(task, batch['inputs'], batch.get('data_samples'))

    def test_step(self, data: dict) -> list:
        return self.val_step(data)

    @torch.no_grad()
    def predict(self,
                task: str,
                inputs: Dict[str, Tensor],
                data_samples: Optional[list] = None) -> list:
        """The task adapter's predictions on the compensated fusion (``'cldyn'`` mode), one
        :class:`~cldyn_mm.structures.FusionDataSample` per pair with the panel images at its
        ``ori_shape``, (3, H, W) RGB in [0, 1]: ``fused_img`` (= ``cldyn_img``), ``vfn_img``,
        ``ir_img``, ``vis_img``. With ``vis_panels`` (set by the visualization hooks while
        drawing) also ``<key>_pred``: the task network's predictions on each of these images
        (one extra forward per image: IR, VIS, VFN)."""
        images = self.compensated_images(task, inputs)
        adapter = self._adapter(task)
        fused = images['cldyn']
        results = [
            FusionDataSample.from_task_sample(s) for s in adapter.predict(fused, data_samples)
        ]
        to_ori = BaseFusedTaskModel._to_ori
        for sample, img in zip(results, fused):
            sample.fused_img = to_ori(img, sample)
        panels = dict(
            ir=inputs['ir'].expand(-1, 3, -1, -1),
            vis=inputs['vis'],
            vfn=images['vfn'],
            cldyn=fused)
        attach_panels(results, panels, fused, to_ori, adapter if self.vis_panels else None)
        return results

    def forward(self,
                inputs: Dict[str, Tensor],
                data_samples: Optional[list] = None,
                mode: str = 'tensor',
                task: Optional[str] = None) -> Union[dict, list, Tensor]:
        """``mode='loss'``: :meth:`task_losses`; ``'predict'``: :meth:`predict`; ``'tensor'``:
        the compensated fusion (B, 3, H, W). All need ``task``."""
        if task is None:
            raise ValueError(f'ClosedLoopCLDyN.forward needs task= (one of {self.task_names})')
        if mode == 'loss':
            return self.task_losses(task, inputs, data_samples)
        if mode == 'predict':
            return self.predict(task, inputs, data_samples)
        if mode == 'tensor':
            return self.compensated_images(task, inputs)['cldyn']
        raise ValueError(f"invalid mode {mode!r}; use 'loss', 'predict' or 'tensor'")

    def extra_repr(self) -> str:
        return (f'tasks={self.task_names}, penalty_weight={self.penalty_weight}, '
                f'cagrad={self.cagrad}, clip_norm={self.clip_norm}, '
                f'clip_bank={self.clip_bank}, freeze_prototypes={self.freeze_prototypes}')
