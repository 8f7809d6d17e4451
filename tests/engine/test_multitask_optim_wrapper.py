"""MultiTaskOptimWrapper / AmpMultiTaskOptimWrapper on their own, with tiny parameter groups
(no task networks): accumulation, per-group clipping, lazy task losses, the non-finite policy,
building from configs through the registry, AMP on a CPU, and ``tools/train.py --amp``."""
import importlib.util
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import OptimWrapper, build_optim_wrapper
from mmengine.registry import DefaultScope

from cldyn_mm.engine.multitask import cagrad_weights
from cldyn_mm.engine.optimizers import (AmpMultiTaskOptimWrapper, MultiTaskOptimWrapper,
                                        NonFiniteTaskLoss)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def fresh_message_hub(request):
    """A message hub of this test's own: the iteration in messages is read from the current
    hub, which an earlier Runner in the same process leaves behind."""
    from mmengine.logging import MessageHub
    MessageHub.get_instance(f'multitask_optim_wrapper_test_{request.node.name}')


class _Toy(nn.Module):
    """Three parameter groups named like the closed loop's: two 'chains' and a 'bank'."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.rsc_ir = nn.Parameter(torch.randn(4, generator=g))
        self.rsc_vis = nn.Parameter(torch.randn(3, generator=g))
        self.bank = nn.Parameter(torch.randn(5, generator=g))

    def groups(self):
        return {'rsc_ir': [self.rsc_ir], 'rsc_vis': [self.rsc_vis], 'bank': [self.bank]}

    def terms(self, seed: int):
        """Two tasks' losses of different shape (their gradients conflict)."""
        g = torch.Generator().manual_seed(seed)
        x = [torch.randn(p.shape, generator=g) for p in (self.rsc_ir, self.rsc_vis, self.bank)]
        a = (self.rsc_ir * x[0]).sum()**2 + (self.bank * x[2]).sum()
        b = ((self.rsc_vis - x[1])**2).sum() - (self.bank * x[2]).sum() * 0.5
        return {'a': {'loss': a}, 'b': {'loss': b}}


def _grads_at_step(ow, model):
    """Record the gradients handed to the optimizer (after combination and clipping)."""
    seen = []
    step = ow.step

    def record(**kwargs):
        seen.append({n: p.grad.detach().clone() for n, p in model.named_parameters()})
        return step(**kwargs)

    ow.step = record
    return seen


def _flat(grads: dict) -> torch.Tensor:
    return torch.cat([grads[n].reshape(-1) for n in ('rsc_ir', 'rsc_vis', 'bank')])


def _task_grads(model, terms):
    params = [model.rsc_ir, model.rsc_vis, model.bank]
    rows = []
    for t in terms.values():
        grads = torch.autograd.grad(t['loss'], params, allow_unused=True)
        rows.append(
            torch.cat([
                torch.zeros(p.numel()) if g is None else g.reshape(-1)
                for p, g in zip(params, grads)
            ]))
    return torch.stack(rows)


def test_one_step_applies_the_cagrad_combination_and_logs_it():
    model = _Toy()
    ow = MultiTaskOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), clip_norm=None)
    seen = _grads_at_step(ow, model)
    g = _task_grads(model, model.terms(1))
    log = ow.update_params(model.terms(1), param_groups=model.groups())
    assert torch.allclose(_flat(seen[0]), cagrad_weights(g) @ g, rtol=1e-5, atol=1e-7)
    assert {
        'a/loss', 'b/loss', 'loss', 'a/alpha', 'b/alpha', 'grad_norm/rsc_ir', 'grad_norm/rsc_vis',
        'grad_norm/bank'
    } == set(log)
    assert float(log['a/alpha']) + float(log['b/alpha']) == pytest.approx(1.0)
    assert float(log['loss']) == pytest.approx(float(log['a/loss']) + float(log['b/loss']))
    assert ow.inner_count == 1
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())


def test_accumulating_two_iterations_equals_one_step_on_the_summed_gradients():
    """accumulative_counts=2: no step after the first iteration; after the second, the same
    update as one step whose task losses are the mean of the two iterations' (per task),
    CAGrad included."""
    model, ref = _Toy(), _Toy()
    ow = MultiTaskOptimWrapper(
        torch.optim.Adam(model.parameters(), lr=0.01), accumulative_counts=2, clip_norm=0.5)
    ow.initialize_count_status(model, 0, 2)
    ref_ow = MultiTaskOptimWrapper(torch.optim.Adam(ref.parameters(), lr=0.01), clip_norm=0.5)
    seen, ref_seen = _grads_at_step(ow, model), _grads_at_step(ref_ow, ref)
    before = [p.detach().clone() for p in model.parameters()]
    first = ow.update_params(model.terms(1), param_groups=model.groups())
    assert not seen and 'a/alpha' not in first and not ow.should_update()
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))
    second = ow.update_params(model.terms(2), param_groups=model.groups())
    assert len(seen) == 1 and 'a/alpha' in second
    t1, t2 = ref.terms(1), ref.terms(2)
    mean = {t: {'loss': (t1[t]['loss'] + t2[t]['loss']) / 2} for t in t1}
    ref_log = ref_ow.update_params(mean, param_groups=ref.groups())
    torch.testing.assert_close(_flat(seen[0]), _flat(ref_seen[0]), rtol=1e-5, atol=1e-7)
    assert float(second['a/alpha']) == pytest.approx(float(ref_log['a/alpha']), abs=1e-6)
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize('clip_bank', [False, True])
def test_each_group_is_clipped_separately_and_the_bank_only_with_clip_bank(clip_bank):
    model = _Toy()
    ow = MultiTaskOptimWrapper(
        torch.optim.SGD(model.parameters(), lr=1.0), clip_norm=1e-3, clip_bank=clip_bank)
    seen = _grads_at_step(ow, model)
    log = ow.update_params(model.terms(3), param_groups=model.groups())
    applied = {n: float(g.norm()) for n, g in seen[0].items()}
    for group in ('rsc_ir', 'rsc_vis'):
        assert float(log[f'grad_norm/{group}']) > 1e-3  # logged before clipping ...
        assert applied[group] == pytest.approx(1e-3, rel=1e-3)  # ... clipped, group by group
    if clip_bank:
        assert applied['bank'] == pytest.approx(1e-3, rel=1e-3)
    else:
        assert applied['bank'] == pytest.approx(float(log['grad_norm/bank']), rel=1e-5)
        assert applied['bank'] > 1e-2
    assert ow.closed_loop_options()['clip_bank'] is clip_bank


def test_task_losses_are_taken_one_task_at_a_time_from_a_generator():
    """A generator of (task, terms) is consumed lazily: task b's forward pass runs after task
    a's gradient was taken (only one task graph alive at a time)."""
    model = _Toy()
    events = []
    model.bank.register_hook(lambda g: events.append('backward'))

    def stream():
        for task, terms in model.terms(4).items():
            events.append(f'forward {task}')
            yield task, terms

    ow = MultiTaskOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    ow.update_params(stream(), param_groups=model.groups())
    assert events == ['forward a', 'backward', 'forward b', 'backward']


def test_nonfinite_raise_and_skip():
    model = _Toy()

    def bad():
        terms = model.terms(5)
        terms['b']['extra'] = torch.tensor(float('nan'))  # any term, not only the loss
        return terms

    ow = MultiTaskOptimWrapper(torch.optim.Adam(model.parameters(), lr=0.1))
    with pytest.raises(NonFiniteTaskLoss, match=r"task 'b' has a non-finite loss at iteration 0"):
        ow.update_params(bad(), param_groups=model.groups())
    assert not ow.optimizer.state

    skip = MultiTaskOptimWrapper(
        torch.optim.Adam(model.parameters(), lr=0.1), accumulative_counts=2, nonfinite='skip')
    before = [p.detach().clone() for p in model.parameters()]
    skip.update_params(model.terms(6), param_groups=model.groups())  # accumulated ...
    log = skip.update_params(bad(), param_groups=model.groups())  # ... and dropped with this one
    assert set(log) == {'loss'} and torch.isnan(log['loss'])
    assert all(torch.equal(b, p) for b, p in zip(before, model.parameters()))
    assert not skip.optimizer.state
    skip.update_params(model.terms(7), param_groups=model.groups())
    skip.update_params(model.terms(8), param_groups=model.groups())
    assert skip.optimizer.state  # the next full window steps again


def test_misuse_is_named():
    model = _Toy()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match='clip_norm'):
        MultiTaskOptimWrapper(opt, clip_grad=dict(max_norm=1.0))
    with pytest.raises(ValueError, match='unknown cagrad settings'):
        MultiTaskOptimWrapper(opt, cagrad=dict(lamda=0.5))
    with pytest.raises(ValueError, match='nonfinite'):
        MultiTaskOptimWrapper(opt, nonfinite='ignore')
    ow = MultiTaskOptimWrapper(opt)
    with pytest.raises(TypeError, match='loss terms of each task'):
        ow.update_params(torch.tensor(1.0))
    with pytest.raises(KeyError, match="no 'loss'"):
        ow.update_params({'a': {'L1': model.bank.sum()}}, param_groups=model.groups())


def test_default_param_groups_are_the_optimizers_trainable_parameters():
    model = _Toy()
    model.bank.requires_grad_(False)
    ow = MultiTaskOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    log = ow.update_params({'a': {'loss': (model.rsc_ir**2).sum() + model.rsc_vis.sum()}})
    assert set(k for k in log if k.startswith('grad_norm/')) == {'grad_norm/params'}


def test_the_runtime_config_builds_through_the_registry():
    """configs/_base_/closed_loop/cldyn_runtime.py's optim_wrapper, built as the Runner builds
    it (DefaultOptimWrapperConstructor + OPTIM_WRAPPERS, scope cldyn_mm)."""
    cfg = Config.fromfile(str(REPO / 'configs/_base_/closed_loop/cldyn_runtime.py'))
    assert cfg.optim_wrapper.type == 'MultiTaskOptimWrapper'
    assert 'cagrad' not in cfg.model and 'clip_norm' not in cfg.model
    with DefaultScope.overwrite_default_scope('cldyn_mm'):
        ow = build_optim_wrapper(_Toy(), cfg.optim_wrapper)
        amp = build_optim_wrapper(
            _Toy(), dict(cfg.optim_wrapper, type='AmpMultiTaskOptimWrapper', loss_scale=512.0))
    assert type(ow) is MultiTaskOptimWrapper
    assert isinstance(ow.optimizer, torch.optim.Adam) and ow.optimizer.defaults['lr'] == 0.01
    assert ow.closed_loop_options() == dict(
        cagrad_quadratic=0.5,
        cagrad=dict(lam=0.5, steps=250, lr=0.1),
        clip_norm=1.0,
        clip_bank=False)
    assert ow.nonfinite == 'raise'
    assert type(amp) is AmpMultiTaskOptimWrapper and amp.loss_scaler.get_scale() == 512.0


def test_amp_variant_builds_and_steps_on_a_cpu():
    """AmpMultiTaskOptimWrapper without a GPU: bf16 autocast, a CPU GradScaler; with a static
    scale of 1024 and clipping active it makes the update the unscaled wrapper makes; its
    state dict carries the loss scaler as AmpOptimWrapper's does."""
    results = []
    for wrapper in (MultiTaskOptimWrapper, AmpMultiTaskOptimWrapper):
        model = _Toy()
        kwargs = dict(loss_scale=1024.0) if wrapper is AmpMultiTaskOptimWrapper else {}
        ow = wrapper(
            optimizer=torch.optim.SGD(model.parameters(), lr=1.0), clip_norm=1e-2, **kwargs)
        log = ow.update_params(model.terms(9), param_groups=model.groups(), model=model)
        results.append(([p.detach().clone() for p in model.parameters()], log))
    for p, q in zip(results[0][0], results[1][0]):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    for key in ('grad_norm/rsc_ir', 'a/alpha'):
        assert float(results[1][1][key]) == pytest.approx(float(results[0][1][key]), rel=1e-4)
    assert ow.device_type == 'cpu' or torch.cuda.is_available()
    with ow.optim_context(model):
        assert torch.is_autocast_enabled('cpu') or torch.cuda.is_available()
    state = ow.state_dict()
    assert 'loss_scaler' in state and 'param_groups' in state
    other = AmpMultiTaskOptimWrapper(optimizer=torch.optim.SGD(_Toy().parameters(), lr=1.0))
    other.load_state_dict(state)
    assert other.loss_scaler.get_scale() == ow.loss_scaler.get_scale()
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='bfloat16'):
            AmpMultiTaskOptimWrapper(
                optimizer=torch.optim.SGD(_Toy().parameters(), lr=1.0), dtype='float16')


def test_tools_train_amp_selects_the_amp_variant_of_the_wrapper():
    spec = importlib.util.spec_from_file_location('cldyn_tools_train_amp', REPO / 'tools/train.py')
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.amp_wrapper_type('MultiTaskOptimWrapper') == 'AmpMultiTaskOptimWrapper'
    assert tool.amp_wrapper_type('cldyn_mm.MultiTaskOptimWrapper') == \
        'cldyn_mm.AmpMultiTaskOptimWrapper'
    assert tool.amp_wrapper_type('AmpMultiTaskOptimWrapper') == 'AmpMultiTaskOptimWrapper'
    assert tool.amp_wrapper_type('OptimWrapper') == 'AmpOptimWrapper'


def test_a_plain_optim_wrapper_is_still_an_optim_wrapper():
    """The wrapper is an OptimWrapper: MMEngine's hooks, schedulers and checkpointing see the
    same interface (lr, state dict = the optimizer's)."""
    model = _Toy()
    ow = MultiTaskOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    assert isinstance(ow, OptimWrapper)
    assert ow.get_lr() == {'lr': [0.1]}
    assert ow.state_dict() == ow.optimizer.state_dict()
