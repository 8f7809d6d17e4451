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
  3. loss_t = L1 + w * relu(L1 - L0)  (w = ``penalty_weight``, spec 5).

The update is the optimizer wrapper's: the model hands the task loss terms (computed one task
at a time, as the wrapper consumes them) and its parameter groups (``rsc_ir``, ``rsc_vis``,
``bank``) to ``optim_wrapper.update_params``, and
:class:`~cldyn_mm.engine.optimizers.MultiTaskOptimWrapper` (``optim_wrapper = dict(
type='MultiTaskOptimWrapper', cagrad=..., clip_norm=..., clip_bank=..., nonfinite=...)``)
takes g_t = d loss_t / d (RSC + bank parameters), all-reduces it over ranks, and when the update
is due (every iteration, or every k-th with ``accumulative_counts=k``) combines the accumulated
(g_t) with CAGrad weights, clips each chain's gradient norm separately and steps -- so
``optim_wrapper`` settings (optimizer, param schedulers, AMP, ``accumulative_counts``) work as
for any MMEngine model. Nothing but RSC (the A2SI set prototypes included, as the research
code's ``to_train`` does) and the bank ever gets a gradient. The model imports nothing from
``cldyn_mm.engine``.

Validation / test (``val_step`` / ``test_step``): the batch carries ``task`` (added by
:class:`ClosedLoopValLoop`); the output is that adapter's predictions on the CLDyN
compensated fusion -- the ``'cldyn'`` mode of :class:`FusedDetector` / :class:`FusedSegmentor`.
"""
from typing import Dict, Iterator, List, Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.optim import OptimWrapper
from torch import Tensor
from torch.profiler import record_function

from cldyn_mm.registry import MODELS
from cldyn_mm.structures import FusionDataSample
from ..losses.reward_penalty_loss import reward_penalty_loss
from ..task_wrappers.fused_task_model import BaseFusedTaskModel, attach_panels, load_fuser_weights

# profiler ranges of the forward part of one closed-loop step (torch.profiler;
# benchmarks/bench_closed_loop.py); the optimizer wrapper records backward / combine / step
PHASES = dict(
    frozen='cldyn/frozen_path', compensated='cldyn/compensated_fusion', task_loss='cldyn/task_loss')
# model options of earlier versions that are now the optimizer wrapper's
MOVED_TO_OPTIM_WRAPPER = ('cagrad', 'clip_norm', 'clip_bank', 'nonfinite')


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
        freeze_prototypes (bool): Keep the A2SI set prototypes (``selector.prototypes``) at
            their orthogonal initialisation. Defaults to False: the research code trains them.
        bf16_autocast (bool): Run the step's forward passes (frozen path, compensated fusion,
            task losses) under ``torch.autocast(<device>, torch.bfloat16)``; gradients, the
            CAGrad combination and the update stay in fp32. For CPUs with bf16 matrix units
            (AMX, AVX512-BF16), where it is faster; on CPUs without them it is much slower (see
            docs/benchmarks.md). On a GPU use ``--amp`` (AmpMultiTaskOptimWrapper) instead.
            Defaults to False (fp32).
        data_preprocessor (dict, optional): Defaults to
            ``dict(type='FusedTaskDataPreprocessor')``.

    The update settings of earlier versions' model config -- ``cagrad``, ``clip_norm``,
    ``clip_bank``, ``nonfinite`` -- are the optimizer wrapper's
    (``optim_wrapper = dict(type='MultiTaskOptimWrapper', ...)``); given here they are an error
    that says so.
    """

    def __init__(self,
                 tasks: Dict[str, dict],
                 fuser: dict,
                 fuser_checkpoint: Optional[str] = None,
                 penalty_weight: float = 5.0,
                 freeze_prototypes: bool = False,
                 bf16_autocast: bool = False,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        moved = [k for k in MOVED_TO_OPTIM_WRAPPER if k in kwargs]
        if moved:
            raise TypeError(
                f'model.{", model.".join(moved)}: these settings of the closed-loop update are '
                "the optimizer wrapper's now: set optim_wrapper.<key> with optim_wrapper = dict("
                "type='MultiTaskOptimWrapper', ...) (configs/_base_/closed_loop/"
                'cldyn_runtime.py)')
        if kwargs:
            raise TypeError(f'ClosedLoopCLDyN got unexpected arguments {sorted(kwargs)}')
        super().__init__(
            data_preprocessor=data_preprocessor or dict(type='FusedTaskDataPreprocessor'),
            init_cfg=init_cfg)
        if not isinstance(tasks, dict) or not tasks:
            raise ValueError('model.tasks must be a non-empty dict {task name: task adapter '
                             f'config}}, got {tasks!r}')
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
        self.freeze_prototypes = bool(freeze_prototypes)
        self.bf16_autocast = bool(bf16_autocast)
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

    def closed_loop_options(self) -> dict:
        """The model's settings that define the closed-loop update, recorded in every
        checkpoint together with the optimizer wrapper's (``cagrad``, ``clip_norm``, ...;
        :class:`CheckpointCompatibilityHook` merges and compares them when a run is
        resumed)."""
        return dict(
            penalty_weight=self.penalty_weight,
            freeze_prototypes=self.freeze_prototypes,
            bf16_autocast=self.bf16_autocast)

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

    def task_loss_terms(self, data: Dict[str, dict]) -> Iterator[Tuple[str, Dict[str, Tensor]]]:
        """``(task, terms)`` for each task in order, computed when the next pair is asked for:
        ``terms`` = ``L0``, ``L1``, ``penalty`` and ``loss`` (the differentiated one) of
        :meth:`task_losses` on that task's batch (preprocessed here)."""
        for task in self.task_names:
            batch = self.data_preprocessor(data[task], True)
            with self._autocast(batch['inputs']['ir'].device):
                out = self.task_losses(task, batch['inputs'], batch['data_samples'])
            yield task, dict(
                L0=out['loss_plain'], L1=out['loss_comp'], penalty=out['penalty'], loss=out['loss'])

    def train_step(self, data: Dict[str, dict], optim_wrapper: OptimWrapper) -> Dict[str, Tensor]:
        """One closed-loop iteration on ``{task: batch}``: the task loss terms go to
        ``optim_wrapper.update_params`` (a ``MultiTaskOptimWrapper``), which takes, combines,
        clips and applies the task gradients. Returns the values to log: ``{task}/L0``,
        ``{task}/L1``, ``{task}/penalty``, ``{task}/loss``, ``loss`` and, on update
        iterations, ``{task}/alpha`` and the group gradient norms ``grad_norm/{group}``."""
        if not isinstance(data, dict) or set(data) != set(self.task_names):
            got = sorted(data) if isinstance(data, dict) else type(data).__name__
            raise ValueError(f'ClosedLoopCLDyN.train_step needs one batch per task '
                             f'{self.task_names}, got {got}; use ClosedLoopTrainLoop with '
                             'train_dataloader = dict(<task>=<dataloader config>, ...)')
        if not any(c.__name__ == 'MultiTaskOptimWrapper' for c in type(optim_wrapper).__mro__):
            raise TypeError(
                'ClosedLoopCLDyN.train_step needs the closed-loop optimizer wrapper, '
                "optim_wrapper = dict(type='MultiTaskOptimWrapper', optimizer=..., cagrad=..., "
                "clip_norm=...) (AmpMultiTaskOptimWrapper for AMP), got "
                f'{type(optim_wrapper).__name__}')
        return optim_wrapper.update_params(
            self.task_loss_terms(data), param_groups=self.trainable_parameter_groups(), model=self)

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
                f'freeze_prototypes={self.freeze_prototypes}')
