"""ClosedLoopCLDyN: the closed-loop step (spec section 4) on tiny batches.

Task networks: SegFormer-b0 (random weights) as frozen adapters; images 64x64.
"""
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from cldyn_mm.engine.multitask import cagrad_weights
from cldyn_mm.engine.optimizers import MultiTaskOptimWrapper, NonFiniteTaskLoss
from cldyn_mm.models.closed_loop import ClosedLoopCLDyN
from cldyn_mm.registry import MODELS
from cldyn_mm.structures import FusionDataSample

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.usefixtures('one_torch_thread')

FUSER = Config.fromfile(str(REPO_ROOT / 'configs/_base_/models/cldyn_fuser.py')).cldyn_fuser
SEG = Config.fromfile(str(REPO_ROOT /
                          'configs/_base_/task_models/segformer_b0_adapter.py')).seg_task_adapter


@pytest.fixture(autouse=True)
def fresh_message_hub(request):
    """A message hub of this test's own: the iteration the model reports is read from the
    current hub, which an earlier Runner in the same process leaves behind."""
    from mmengine.logging import MessageHub
    MessageHub.get_instance(f'closed_loop_model_test_{request.node.name}')


def make_model(tasks=('seg', ), **kwargs) -> ClosedLoopCLDyN:
    torch.manual_seed(0)
    fuser = FUSER.to_dict()
    fuser['rsc']['gumbel_noise'] = False  # deterministic set choice for exact comparisons
    model = MODELS.build(
        dict(
            type='ClosedLoopCLDyN', fuser=fuser, tasks={t: SEG.to_dict()
                                                        for t in tasks}, **kwargs))
    # non-zero zero-convs: compensation changes the image, so every parameter gets gradient
    with torch.no_grad():
        for chain in (model.fuser.rsc_ir, model.fuser.rsc_vis):
            for block in chain.blocks:
                for name, p in block.named_parameters():
                    if 'zero' in name:
                        p.normal_(0, 0.05)
    return model


def make_batch(seed: int, n: int = 2, size: int = 64) -> dict:
    g = torch.Generator().manual_seed(seed)
    inputs = [
        torch.randint(0, 256, (4, size, size), generator=g, dtype=torch.uint8) for _ in range(n)
    ]
    samples = []
    for _ in range(n):
        s = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 6, (1, size, size), generator=g))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def optim(model, **kwargs) -> MultiTaskOptimWrapper:
    """The closed-loop update's wrapper (CAGrad, clipping, accumulation, non-finite policy:
    ``clip_norm``, ``clip_bank``, ``nonfinite``, ``accumulative_counts`` as kwargs)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return MultiTaskOptimWrapper(torch.optim.Adam(params, lr=0.01, weight_decay=1e-4), **kwargs)


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(before, model, prefix):
    now = model.state_dict()
    return [
        k for k in before
        if k.startswith(prefix) and k.endswith(('weight',
                                                'bias')) and not torch.equal(before[k], now[k])
    ]


def test_only_rsc_and_bank_train_and_frozen_parts_stay_in_eval():
    model = make_model()
    model.train()
    assert model.fuser.rsc_ir.training and not model.fuser.fusion_net.training
    assert not any(m.training for a in model.tasks.values() for m in a.modules())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(
        n.startswith(('fuser.rsc_ir.', 'fuser.rsc_vis.', 'fuser.bank.')) for n in trainable)
    before = snapshot(model)
    log = model.train_step({'seg': make_batch(0)}, optim(model))
    assert changed(before, model, 'fuser.rsc_ir.') and changed(before, model, 'fuser.bank.')
    assert not changed(before, model, 'fuser.fusion_net.')
    assert not changed(before, model, 'tasks.')
    for p in model.parameters():
        assert p.grad is None or not p.requires_grad or torch.all(p.grad == 0)
    assert {'seg/L0', 'seg/L1', 'seg/penalty', 'seg/loss', 'seg/alpha', 'loss'} <= set(log)
    assert float(log['seg/alpha']) == 1.0


def test_task_losses_are_the_reward_penalty_of_compensated_vs_plain():
    model = make_model(penalty_weight=5.0)
    model.train()
    batch = model.data_preprocessor(make_batch(1), True)
    out = model.task_losses('seg', batch['inputs'], batch['data_samples'])
    l0, l1 = out['loss_plain'], out['loss_comp']
    assert not l0.requires_grad and l1.requires_grad
    assert torch.allclose(out['loss'], l1 + 5.0 * torch.relu(l1 - l0))
    # a new model (zero convs at zero) compensates nothing: L1 == L0, no penalty
    fresh = MODELS.build(
        dict(type='ClosedLoopCLDyN', fuser=FUSER.to_dict(), tasks={'seg': SEG.to_dict()}))
    fresh.eval()  # same (argmax) set choice in both passes
    out = fresh.task_losses('seg', batch['inputs'], batch['data_samples'])
    assert torch.allclose(out['loss_comp'], out['loss_plain'], atol=1e-6)
    assert float(out['penalty']) == 0


def _captured_step(model, ow):
    """Record the gradients handed to the optimizer (after combination and clipping)."""
    seen = {}
    step = ow.step

    def record(**kwargs):
        seen['grads'] = [p.grad.detach().clone() for p in model.fuser.trainable_parameters()]
        return step(**kwargs)

    ow.step = record
    return seen


def _task_grad(model, task, batch):
    params = model.fuser.trainable_parameters()
    b = model.data_preprocessor(batch, True)
    loss = model.task_losses(task, b['inputs'], b['data_samples'])['loss']
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat(
        [torch.zeros(p.numel()) if g is None else g.reshape(-1) for p, g in zip(params, grads)])


def test_two_tasks_apply_the_cagrad_combination_of_their_gradients():
    model = make_model(tasks=('a', 'b'))
    model.train()
    batches = {'a': make_batch(2), 'b': make_batch(3)}
    g = torch.stack([_task_grad(model, t, batches[t]) for t in ('a', 'b')])
    expected = cagrad_weights(g, lam=0.5) @ g
    ow = optim(model, clip_norm=None)
    seen = _captured_step(model, ow)
    log = model.train_step(batches, ow)
    applied = torch.cat([x.reshape(-1) for x in seen['grads']])
    assert torch.allclose(applied, expected, rtol=1e-4, atol=1e-7)
    alpha = torch.tensor([float(log['a/alpha']), float(log['b/alpha'])])
    assert torch.allclose(alpha.sum(), torch.tensor(1.0)) and torch.all(alpha >= 0)


def _applied_group_norms(model, seen):
    grads = dict(zip([id(p) for p in model.fuser.trainable_parameters()], seen['grads']))
    return {
        group: float(torch.norm(torch.stack([grads[id(p)].norm() for p in params])))
        for group, params in model.fuser.trainable_parameter_groups().items()
    }


def test_each_chain_is_clipped_separately_and_the_bank_is_not():
    """Research code: clip_grad_norm_ of rsc_ir and of rsc_vi to 1.0, the bank unclipped."""
    model = make_model()
    model.train()
    ow = optim(model, clip_norm=1e-4)
    seen = _captured_step(model, ow)
    log = model.train_step({'seg': make_batch(4)}, ow)
    applied = _applied_group_norms(model, seen)
    for group in ('rsc_ir', 'rsc_vis'):
        assert float(log[f'grad_norm/{group}']) > 1e-4  # it was clipped ...
        assert applied[group] <= 1e-4 * 1.001  # ... to the limit, chain by chain
    # the bank's norm is logged, and its gradient is applied as it is
    assert applied['bank'] == pytest.approx(float(log['grad_norm/bank']), rel=1e-5)
    assert applied['bank'] > 1e-3


def test_clip_bank_option_clips_the_bank_too():
    model = make_model()
    model.train()
    ow = optim(model, clip_norm=1e-4, clip_bank=True)
    seen = _captured_step(model, ow)
    log = model.train_step({'seg': make_batch(4)}, ow)
    applied = _applied_group_norms(model, seen)
    assert float(log['grad_norm/bank']) > 1e-4 and applied['bank'] <= 1e-4 * 1.001


def test_prototypes_are_trained_unless_frozen():
    """The research code's to_train switches requires_grad on for every RSC parameter, the
    A2SI set prototypes included, and its optimizer updates them."""
    key = 'fuser.rsc_ir.blocks.0.selector.prototypes'
    model = make_model()
    model.train()
    assert key in {n for n, p in model.named_parameters() if p.requires_grad}
    before = snapshot(model)
    model.train_step({'seg': make_batch(0)}, optim(model))
    assert not torch.equal(before[key], model.state_dict()[key])

    frozen = make_model(freeze_prototypes=True)
    frozen.train()
    protos = {id(p) for p in frozen.fuser.prototype_parameters()}
    assert len(protos) == 6
    assert not any(p.requires_grad for p in frozen.fuser.prototype_parameters())
    assert not protos & {id(p) for p in frozen.trainable_parameters()}
    before = snapshot(frozen)
    frozen.train_step({'seg': make_batch(0)}, optim(frozen))
    assert torch.equal(before[key], frozen.state_dict()[key])
    assert changed(before, frozen, 'fuser.rsc_ir.')


def _reference_step(model, batches, lr=0.01, weight_decay=1e-4, clip=1.0, w=5.0, lam=0.5):
    """One closed-loop step written from spec section 4 alone, on a copy of ``model``.

    Per task: F0, T, L0 without gradient; F1 = CLDyN(IR, VIS, T); L1; loss = L1 + w relu(L1 -
    L0); g_t = d loss / d (every RSC parameter, prototypes included, and the bank). Two tasks:
    the CAGrad weight minimises alpha^T GG alpha + c^T alpha on the simplex, found here in
    closed form on the segment alpha = (t, 1 - t). The combined gradient's norm is clipped to
    ``clip`` for rsc_ir and for rsc_vis separately (bank unclipped); Adam (PyTorch's: L2 added
    to the gradient, first step) updates. Returns the new parameters by name.
    """
    import copy
    ref = copy.deepcopy(model)
    ref.train()
    fuser = ref.fuser
    named = [(n, p) for n, p in ref.named_parameters()
             if n.startswith(('fuser.rsc_ir.', 'fuser.rsc_vis.', 'fuser.bank.'))]
    params = [p for _, p in named]
    grads = []
    for task, batch in batches.items():
        adapter = ref.tasks[task]
        data = ref.data_preprocessor(batch, True)
        inputs, samples = data['inputs'], data['data_samples']
        with torch.no_grad():
            f0 = fuser.fuse(inputs)['fused']
            feat = adapter.task_feature(f0)
            l0 = sum(v.mean() for k, v in adapter.loss(f0, samples).items() if "loss" in k)
        f1 = fuser.fuse(inputs, task_feat=feat)['fused']
        l1 = sum(v.mean() for k, v in adapter.loss(f1, samples).items() if "loss" in k)
        loss = l1 + w * torch.relu(l1 - l0)
        g = torch.autograd.grad(loss, params, allow_unused=True)
        grads.append(
            torch.cat([
                torch.zeros(p.numel()) if x is None else x.reshape(-1) for p, x in zip(params, g)
            ]).double())
    G = torch.stack(grads)
    gg = G @ G.t()
    c = -2 * lam * gg.min(dim=1).values
    # f(t) = a gg a + c a with a = (t, 1 - t): quadratic A t^2 + B t + const
    A = gg[0, 0] - 2 * gg[0, 1] + gg[1, 1]
    B = 2 * gg[0, 1] - 2 * gg[1, 1] + c[0] - c[1]
    t = float(torch.clamp(-B / (2 * A), 0, 1))
    combined = (t * G[0] + (1 - t) * G[1]).float()
    offset, new = 0, {}
    per_param = {}
    for (name, p) in named:
        per_param[name] = combined[offset:offset + p.numel()].view_as(p)
        offset += p.numel()
    for chain in ('fuser.rsc_ir.', 'fuser.rsc_vis.'):
        names = [n for n, _ in named if n.startswith(chain)]
        norm = torch.sqrt(sum((per_param[n]**2).sum() for n in names))
        factor = min(1.0, clip / (float(norm) + 1e-6))
        for n in names:
            per_param[n] = per_param[n] * factor
    for name, p in named:
        g = per_param[name] + weight_decay * p.detach()
        m, v = 0.1 * g, 0.001 * g * g  # Adam's first step, betas (0.9, 0.999)
        m_hat, v_hat = m / 0.1, v / 0.001
        new[name] = p.detach() - lr * m_hat / (v_hat.sqrt() + 1e-8)
    return new, t


def test_one_step_equals_a_reference_step_written_from_the_spec():
    model = make_model(tasks=('a', 'b'))
    model.train()
    batches = {'a': make_batch(21), 'b': make_batch(22)}
    expected, t = _reference_step(model, batches)
    log = model.train_step(batches, optim(model))
    assert float(log['a/alpha']) == pytest.approx(t, abs=1e-4)
    state = dict(model.named_parameters())
    assert len(expected) == len(model.trainable_parameters())
    for name, value in expected.items():
        torch.testing.assert_close(state[name].detach(), value, rtol=1e-4, atol=1e-6, msg=name)


def test_gradient_accumulation_steps_every_k_iterations_with_the_summed_gradients():
    model = make_model()
    model.train()
    batches = [make_batch(5), make_batch(6)]
    expected = sum(_task_grad(model, 'seg', b) for b in batches) / 2
    ow = optim(model, accumulative_counts=2, clip_norm=None)
    ow.initialize_count_status(model, 0, 2)
    seen = _captured_step(model, ow)
    before = snapshot(model)
    model.train_step({'seg': batches[0]}, ow)
    assert not changed(before, model, 'fuser.') and 'grads' not in seen
    model.train_step({'seg': batches[1]}, ow)
    applied = torch.cat([x.reshape(-1) for x in seen['grads']])
    assert torch.allclose(applied, expected, rtol=1e-4, atol=1e-7)


def _poison(model, task, value):
    adapter = model.tasks[task]
    original = adapter.loss

    def loss(fused, samples):
        out = original(fused, samples)
        return {k: v * value if 'loss' in k else v for k, v in out.items()}

    adapter.loss = loss


def test_nonfinite_task_loss_raises_naming_task_and_iteration_and_updates_nothing():
    model = make_model(tasks=('a', 'b'))
    model.train()
    _poison(model, 'b', float('nan'))
    before = snapshot(model)
    ow = optim(model)
    with pytest.raises(NonFiniteTaskLoss, match=r"task 'b'.*iteration 0"):
        model.train_step({'a': make_batch(7), 'b': make_batch(8)}, ow)
    assert not changed(before, model, '')
    assert not ow.optimizer.state  # Adam never stepped


def test_nonfinite_skip_policy_warns_and_keeps_the_bank(mmengine_log):
    model = make_model()
    model.train()
    _poison(model, 'seg', float('inf'))
    before = snapshot(model)
    ow = optim(model, nonfinite='skip')
    model.train_step({'seg': make_batch(9)}, ow)
    assert any("task 'seg' has a non-finite loss" in m for m in mmengine_log)
    assert not changed(before, model, '') and not ow.optimizer.state
    # the next good step updates again
    model.tasks['seg'].__dict__.pop('loss')
    model.train_step({'seg': make_batch(10)}, ow)
    assert changed(before, model, 'fuser.bank.')


def test_all_zero_task_gradient_is_reported_and_left_out(mmengine_log):
    model = make_model(tasks=('a', 'b'))
    model.train()
    _poison(model, 'b', 0.0)  # b's loss no longer depends on the image: zero gradient
    g_a = _task_grad(model, 'a', make_batch(11))
    ow = optim(model, clip_norm=None)
    seen = _captured_step(model, ow)
    log = model.train_step({'a': make_batch(11), 'b': make_batch(12)}, ow)
    assert any("task 'b' has an all-zero gradient at iteration 0" in m for m in mmengine_log)
    assert float(log['b/alpha']) == 0 and float(log['a/alpha']) == 1
    applied = torch.cat([x.reshape(-1) for x in seen['grads']])
    assert torch.allclose(applied, g_a, rtol=1e-4, atol=1e-7)


def test_configuration_errors_are_named():
    with pytest.raises(ValueError, match='one batch per task'):
        make_model().train_step({'det': make_batch(0)}, None)
    bad = SEG.to_dict()
    bad['feature_layer'] = 'backbone.no_such_layer'
    with pytest.raises(Exception, match=r'model\.tasks\.seg.*no_such_layer'):
        MODELS.build(dict(type='ClosedLoopCLDyN', fuser=FUSER.to_dict(), tasks={'seg': bad}))
    with pytest.raises(ValueError, match='non-empty dict'):
        MODELS.build(dict(type='ClosedLoopCLDyN', fuser=FUSER.to_dict(), tasks={}))
    with pytest.raises(ValueError, match="data\\['task'\\]"):
        make_model().val_step(make_batch(0))


def test_update_settings_are_the_optim_wrappers():
    """cagrad / clip_norm / clip_bank / nonfinite moved from model to optim_wrapper: given to
    the model they are an error that says where they went; a plain OptimWrapper is refused."""
    from mmengine.optim import OptimWrapper
    for key, value in (('clip_bank', True), ('cagrad', dict(lam=0.5)), ('nonfinite', 'skip')):
        with pytest.raises(TypeError, match=rf'model\.{key}.*optim_wrapper'):
            make_model(**{key: value})
    model = make_model()
    params = [p for p in model.parameters() if p.requires_grad]
    with pytest.raises(TypeError, match='MultiTaskOptimWrapper.*got OptimWrapper'):
        model.train_step({'seg': make_batch(0)}, OptimWrapper(torch.optim.Adam(params)))
    assert set(
        model.closed_loop_options()) == {'penalty_weight', 'freeze_prototypes', 'bf16_autocast'}


def test_predict_gives_task_predictions_on_the_compensated_image():
    model = make_model()
    model.eval()
    batch = make_batch(13)
    out = model.val_step(dict(batch, task='seg'))
    assert len(out) == 2 and out[0].pred_sem_seg.data.shape[-2:] == (64, 64)
    b = model.data_preprocessor(batch, False)
    images = model.compensated_images('seg', b['inputs'])
    assert torch.allclose(out[0].fused_img, images['cldyn'][0].clamp(0, 1), atol=1e-6)
    assert not torch.allclose(images['cldyn'], images['vfn'])  # compensation is active
    assert torch.allclose(out[0].vfn_img, images['vfn'][0].clamp(0, 1), atol=1e-6)


def test_predict_with_vis_panels_predicts_on_every_panel_image():
    """Drawing (vis_panels, set by the visualization hooks): FusionDataSamples whose IR / VIS /
    VFN / CLDyN images each carry the task network's own predictions on that image."""
    model = make_model()
    model.eval()
    batch = make_batch(13)
    out = model.val_step(dict(batch, task='seg'))
    assert isinstance(out[0], FusionDataSample) and 'ir_img' in out[0]
    assert not any(f'{k}_pred' in out[0] for k in ('ir', 'vis', 'vfn', 'cldyn'))
    model.vis_panels = True
    out = model.val_step(dict(batch, task='seg'))
    b = model.data_preprocessor(batch, False)
    ir3 = b['inputs']['ir'].expand(-1, 3, -1, -1)
    alone = model.tasks['seg'].predict(ir3, [SegDataSample(metainfo=s.metainfo) for s in out])
    for sample, ir_pred in zip(out, alone):
        assert all(f'{k}_pred' in sample for k in ('ir', 'vis', 'vfn', 'cldyn'))
        assert sample.cldyn_img is sample.fused_img
        assert torch.equal(sample.cldyn_pred.pred_sem_seg.data, sample.pred_sem_seg.data)
        assert torch.equal(sample.ir_pred.pred_sem_seg.data, ir_pred.pred_sem_seg.data)


def test_closed_loop_checkpoint_loads_as_a_fuser_checkpoint(tmp_path):
    """A closed-loop checkpoint (keys fuser.*, tasks.*) is what the fused wrappers' mode
    'cldyn' takes as fuser_checkpoint: its fuser part, loaded strictly."""
    from cldyn_mm.models.task_wrappers.fused_task_model import load_fuser_weights
    model = make_model()
    path = tmp_path / 'closed_loop.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict(iter=1)), path)
    fuser = MODELS.build(FUSER.to_dict())
    load_fuser_weights(fuser, str(path))
    for k, v in fuser.state_dict().items():
        assert torch.equal(v, model.fuser.state_dict()[k]), k


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason='the CUDA AMP path needs a GPU')
def test_amp_optim_wrapper_runs_the_step():
    """`--amp` (AmpMultiTaskOptimWrapper) on a GPU: the step runs under autocast through the
    loss scaler and updates RSC and the bank."""
    from cldyn_mm.engine.optimizers import AmpMultiTaskOptimWrapper
    model = make_model().cuda()
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    ow = AmpMultiTaskOptimWrapper(optimizer=torch.optim.Adam(params, lr=0.01))
    before = snapshot(model)
    batch = make_batch(14)
    log = model.train_step({'seg': batch}, ow)
    assert torch.isfinite(log['loss'])
    assert changed(before, model, 'fuser.rsc_vis.') and not changed(before, model, 'tasks.')


class _ScaledOptimWrapper(MultiTaskOptimWrapper):
    """What AmpMultiTaskOptimWrapper does with the gradients, on a CPU: a loss scaler multiplies
    each loss by 1024; step() unscales the gradients, then steps."""

    class Scaler:

        def scale(self, loss):
            return loss * 1024.0

        def get_scale(self):
            return 1024.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_scaler = self.Scaler()

    def step(self, **kwargs):
        for group in self.optimizer.param_groups:
            for p in group['params']:
                if p.grad is not None:
                    p.grad /= 1024.0
        super().step(**kwargs)


def test_loss_scaled_step_equals_the_unscaled_one_clipping_included():
    """Per task the loss goes through the wrapper's loss scaler; CAGrad weights do not depend
    on the scale and the per-group clipping threshold is scaled with it, so the update equals
    the unscaled one (clipping active)."""
    results = []
    for wrapper in (MultiTaskOptimWrapper, _ScaledOptimWrapper):
        model = make_model(tasks=('a', 'b'))
        model.train()
        params = [p for p in model.parameters() if p.requires_grad]
        model.train_step({
            'a': make_batch(15),
            'b': make_batch(16)
        }, wrapper(torch.optim.SGD(params, lr=1.0), clip_norm=1e-3))
        results.append({
            k: v
            for k, v in model.state_dict().items() if k.startswith(('fuser.rsc', 'fuser.bank'))
        })
    for k in results[0]:
        assert torch.allclose(results[0][k], results[1][k], rtol=1e-4, atol=1e-7), k
