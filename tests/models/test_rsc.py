"""A2SI / RSC / bank: the batched block against a per-sample, per-filter loop.

The loop below follows the research code's structure (steps 6 and 7 in Python loops over
samples and filters, the bank read through the straight-through set weights with a bmm, the
embeddings computed batch-wide as the research code does, BN of the filter outputs over the
stacked batch). It only uses the block's sub-modules as plain layers, so it checks the batched
grouped convolution, the selection and the BN folding of the fast path.
"""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from cldyn_mm.models.fusion import A2SIBlock, BasisVectorBank, RSCChain, a2si
from cldyn_mm.models.fusion.a2si import TaskSequenceEncoder, pooled_conv_stack, task_sequence

C, K, S, V = 8, 4, 4, 32

pytestmark = pytest.mark.usefixtures('one_torch_thread')


def reference_block(block, bank, task_feat, feat, set_choice=None):
    """Plain loop implementation of A2SI steps 1-8. Returns (out, set_index)."""
    batch, c, h, w = feat.shape
    flat = task_feat.flatten(1)
    if flat.shape[0] == 1:
        flat = flat.expand(batch, -1)
    sel = block.selector
    set_code = sel.task_code.conv2(F.leaky_relu(sel.task_code.conv1(flat[:, None]), 0.2)).mean(2)
    img_code = sel.img_code(feat).mean((2, 3))  # unfused BN, batch-wide like the research code
    joint = sel.joint(torch.cat([set_code, img_code], 1)).view(batch, sel.proto_dim, K)
    protos = F.normalize(sel.prototypes, dim=-1, eps=1e-8)[None].expand(batch, -1, -1)
    logits = torch.bmm(protos, F.normalize(joint, dim=1, eps=1e-8)).permute(0, 2, 1)
    soft = torch.softmax(logits / block.tau, -1)
    index = logits.argmax(-1) if set_choice is None else set_choice
    weights = F.one_hot(index, S).float() - soft.detach() + soft  # research form of ST

    bf = block.basis_filter
    rms = flat.pow(2).mean(1, keepdim=True).sqrt()
    normed = flat / (rms + 1e-8)
    task_emb = bf.task_embed.conv2(F.leaky_relu(bf.task_embed.conv1(normed[:, None]), 0.2)).mean(2)
    img_emb = bf.img_embed(feat).mean((2, 3))
    query = bf.query(torch.cat([task_emb, img_emb], 1))
    set_bank = torch.bmm(weights, bank.reshape(1, S, -1).expand(batch, -1, -1))
    set_bank = set_bank.view(batch, K, V, -1)

    responses = []
    for b in range(batch):
        types = [int(t) for t in index[b]]
        vectors = [None] * K
        for t in sorted(set(types)):
            members = [k for k in range(K) if types[k] == t]
            vecs = set_bank[b, members[0]]  # (V, D), through the first member's weights
            sims = F.normalize(query[b:b + 1], dim=-1) @ F.normalize(vecs, dim=-1).t()
            top = sims[0].topk(len(members)).indices
            for r, k in enumerate(members):
                vectors[k] = vecs[top[r]]
        for k in range(K):
            t = types[k]
            if t == 0:
                kernel = block.kernel_1x1(vectors[k]).view(C, C, 1, 1)
                responses.append(F.conv2d(feat[b:b + 1], kernel))
            else:
                kernel = block.kernel_3x3(vectors[k]).view(C, C, 3, 3)
                responses.append(F.conv2d(feat[b:b + 1], kernel, padding=t, dilation=t))
    out = F.leaky_relu(block.out_norm(torch.cat(responses)), 0.2)
    out = out.view(batch, K, c, h, w).mean(1)
    return feat + block.zero_conv(out), index


def randomise(block: A2SIBlock, seed: int = 0) -> A2SIBlock:
    """Non-trivial weights: zero conv, BN affine and running statistics all random."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in block.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
                m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
        block.zero_conv.weight.copy_(0.3 * torch.randn(block.zero_conv.weight.shape, generator=g))
        block.zero_conv.bias.copy_(0.1 * torch.randn(C, generator=g))
    return block


def make_inputs(batch, h, w, task_batch=None, seed=1):
    g = torch.Generator().manual_seed(seed)
    task = torch.randn(task_batch or batch, 6, 3, 5, generator=g)
    feat = torch.randn(batch, C, h, w, generator=g)
    return task, feat


# all four set types, repeated types in one sample (top-n with n > 1), all filters in one set
CHOICES = [[0, 1, 2, 3], [3, 3, 0, 1], [2, 2, 2, 2], [1, 0, 1, 0], [0, 0, 3, 2], [3, 2, 1, 0],
           [1, 1, 1, 3], [0, 0, 0, 0]]


def test_parameter_counts_match_the_spec():
    block = A2SIBlock()
    assert sum(p.numel() for p in block.parameters()) == 215_028
    chain = RSCChain()
    n_chain = sum(p.numel() for p in chain.parameters())
    assert n_chain == 645_084  # spec: "about 645k" per chain
    assert abs(n_chain - 645_000) / 645_000 < 0.001
    assert sum(p.numel() for p in BasisVectorBank().parameters()) == 128 * 256
    # the prototypes are trained by the research code's closed loop (spec 3.4 / 4): a
    # parameter, under the same state-dict key the research checkpoints are converted to
    assert 'selector.prototypes' in block.state_dict()
    assert 'selector.prototypes' in dict(block.named_parameters())
    assert block.selector.prototypes.shape == (S, 16)


def test_bank_and_prototypes_initialisation():
    bank = BasisVectorBank()
    w = bank.weight.detach()
    assert w.shape == (128, 256)
    torch.testing.assert_close(w @ w.t(), torch.eye(128), atol=1e-5, rtol=0)
    assert bank().shape == (4, 32, 256) and bank().data_ptr() == w.data_ptr()
    p = A2SIBlock().selector.prototypes
    torch.testing.assert_close(p @ p.t(), torch.eye(S), atol=1e-5, rtol=0)
    # more rows than dimensions: rows cannot be orthogonal but are scaled to unit norm
    wide = BasisVectorBank(set_num=4, vector_num=8, embed_dim=16).weight.detach()
    torch.testing.assert_close(wide.norm(dim=1), torch.ones(32), atol=1e-5, rtol=0)


@pytest.mark.parametrize('length,chunk', [(1, 16), (2, 16), (3, 16), (50, 16), (50, 1), (50, 7),
                                          (64, 32)])
def test_task_encoder_equals_full_convolution_then_mean(monkeypatch, length, chunk):
    monkeypatch.setattr(TaskSequenceEncoder, 'chunk', chunk)
    torch.manual_seed(0)
    enc = TaskSequenceEncoder(16, 32)
    seq = torch.randn(3, length)
    full = enc.conv2(F.leaky_relu(enc.conv1(seq[:, None]), 0.2)).mean(2)
    torch.testing.assert_close(enc(seq), full, atol=1e-6, rtol=1e-5)
    # gradients reach both convolutions as through the plain layers
    target = torch.randn(3, 32)
    (enc(seq) * target).sum().backward()
    grads = [enc.conv1.weight.grad.clone(), enc.conv2.weight.grad.clone()]
    enc.zero_grad()
    (full * target).sum().backward()
    torch.testing.assert_close(grads[0], enc.conv1.weight.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(grads[1], enc.conv2.weight.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('rows', [1, 2, 5, 100])
def test_pooled_conv_stack_row_chunks_equal_the_plain_layers(monkeypatch, rows):
    force_row_chunks(monkeypatch, rows)
    block = randomise(A2SIBlock(embed_dim=32)).eval()
    feat = torch.randn(3, C, 17, 10)
    for layers in (block.basis_filter.img_embed, block.selector.img_code):
        with torch.no_grad():
            torch.testing.assert_close(
                pooled_conv_stack(layers, feat), layers(feat).mean((2, 3)), atol=1e-5, rtol=1e-5)
    # training mode: the layers as they are (BN batch statistics)
    layers = block.basis_filter.img_embed.train()
    torch.testing.assert_close(
        pooled_conv_stack(layers, feat), copy.deepcopy(layers)(feat).mean((2, 3)), atol=0, rtol=0)


def force_row_chunks(monkeypatch, rows):
    """Make pooled_conv_stack cut the image into chunks of ``rows`` rows (its CPU path)."""
    monkeypatch.setattr(a2si, 'CHUNK_ELEMENTS', 1)
    monkeypatch.setattr(a2si, 'MIN_CHUNK_ROWS', rows)


@pytest.mark.parametrize('batch,h,w,rows', [(1, 7, 9, None), (2, 11, 5, 1), (3, 11, 13, 4),
                                            (4, 13, 7, None), (5, 9, 9, 3), (6, 5, 11, 2),
                                            (7, 15, 3, 8), (8, 9, 15, None)])
def test_batched_block_equals_loop_reference_eval(monkeypatch, batch, h, w, rows):
    """Batch sizes 1-8, odd sizes, all four set types (forced), with row chunks of the image
    embeddings and channels-last dynamic convolutions (the CPU path; 1 row: chunks smaller
    than the halo of the two convolutions) and without either (``rows=None``: the path of
    other devices)."""
    if rows is not None:
        force_row_chunks(monkeypatch, rows)
    else:
        monkeypatch.setattr(a2si, 'DYNAMIC_CHANNELS_LAST', False)
    torch.manual_seed(batch)
    block = randomise(A2SIBlock()).eval()
    bank = BasisVectorBank()()
    task, feat = make_inputs(batch, h, w)
    choice = torch.tensor(CHOICES[:batch])
    with torch.no_grad():
        out, index = block(bank, task, feat, set_choice=choice, return_choice=True)
        ref, _ = reference_block(block, bank, task, feat, choice)
    assert torch.equal(index, choice)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    # the compensation is not trivially zero
    assert (out - feat).abs().max() > 1e-2


def test_batched_block_equals_loop_reference_with_own_choice_and_shared_task():
    torch.manual_seed(3)
    block = randomise(A2SIBlock(), seed=3).eval()
    bank = BasisVectorBank()()
    task, feat = make_inputs(5, 9, 11, task_batch=1)
    with torch.no_grad():
        out, index = block(bank, task, feat, return_choice=True)
        ref, ref_index = reference_block(block, bank, task, feat)
    assert torch.equal(index, ref_index)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_train_mode_forward_and_gradients_equal_loop_reference():
    """Training mode (BN batch statistics) with forced sets: outputs, BN running statistics
    and every gradient equal the research-style loop, including the bank's."""
    torch.manual_seed(4)
    block = randomise(A2SIBlock(), seed=4).train()
    ref_block = copy.deepcopy(block)
    bank = BasisVectorBank()
    ref_bank = copy.deepcopy(bank)
    task, feat = make_inputs(4, 9, 11)
    choice = torch.tensor(CHOICES[:4])
    target = torch.randn(4, C, 9, 11)

    out = block(bank(), task, feat, set_choice=choice)
    ref, _ = reference_block(ref_block, ref_bank(), task, feat, choice)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)
    (out * target).sum().backward()
    (ref * target).sum().backward()
    for (name, m), (_, r) in zip(block.named_buffers(), ref_block.named_buffers()):
        torch.testing.assert_close(m, r, atol=1e-5, rtol=1e-5, msg=name)
    torch.testing.assert_close(bank.weight.grad, ref_bank.weight.grad, atol=1e-5, rtol=1e-4)
    for (name, p), (_, r) in zip(block.named_parameters(), ref_block.named_parameters()):
        if r.grad is None:
            assert p.grad is None or not p.grad.any(), name
        else:
            torch.testing.assert_close(p.grad, r.grad, atol=1e-5, rtol=1e-4, msg=name)


def test_hard_selection_gradient_behaviour():
    """Faithful 'hard': the bank (only the chosen rows) and the set-choice path get gradient
    through the straight-through weights; the query's parameters get none."""
    torch.manual_seed(5)
    block = randomise(A2SIBlock(), seed=5).train()
    bank = BasisVectorBank()
    task, feat = make_inputs(2, 8, 8)
    out, index = block(bank(), task, feat, return_choice=True)
    out.square().sum().backward()
    rows = bank.weight.grad.abs().sum(1) > 0
    assert 1 <= int(rows.sum()) <= 2 * K
    chosen_sets = set(index.flatten().tolist())
    assert {int(r) // V for r in rows.nonzero().flatten()} <= chosen_sets
    for name, p in block.named_parameters():
        has_grad = p.grad is not None and bool(p.grad.any())
        if name.startswith('basis_filter.'):
            assert not has_grad, name
        elif name.startswith(('selector.', 'kernel_3x3.', 'out_norm.', 'zero_conv.')):
            assert has_grad, name


def test_soft_selection_gives_query_gradient_and_tends_to_hard():
    torch.manual_seed(6)
    block = randomise(A2SIBlock(selection='soft'), seed=6).train()
    bank = BasisVectorBank()
    task, feat = make_inputs(3, 8, 8)
    choice = torch.tensor(CHOICES[:3])
    block(bank(), task, feat, set_choice=choice).square().sum().backward()
    for name, p in block.basis_filter.named_parameters():
        if name.endswith('weight') and 'embed.1' not in name:
            assert p.grad is not None and p.grad.any(), name
    hard = copy.deepcopy(block).eval()
    hard.selection = 'hard'
    cold = copy.deepcopy(block).eval()
    cold.soft_temperature = 1e-6
    with torch.no_grad():
        torch.testing.assert_close(
            cold(bank(), task, feat, set_choice=choice),
            hard(bank(), task, feat, set_choice=choice),
            atol=1e-5,
            rtol=0)


def test_eval_is_deterministic():
    block = randomise(A2SIBlock()).eval()
    bank = BasisVectorBank()()
    task, feat = make_inputs(3, 10, 12)
    with torch.no_grad():
        a, ia = block(bank, task, feat, return_choice=True)
        b, ib = block(bank, task, feat, return_choice=True)
    assert torch.equal(a, b) and torch.equal(ia, ib)


def test_new_block_is_identity():
    block = A2SIBlock().train()
    task, feat = make_inputs(2, 7, 9)
    assert torch.equal(block(BasisVectorBank()(), task, feat), feat)


def test_bf16_autocast_close_to_float32():
    block = randomise(A2SIBlock()).eval()
    bank = BasisVectorBank()()
    task, feat = make_inputs(2, 12, 14)
    choice = torch.tensor(CHOICES[:2])
    with torch.no_grad():
        ref = block(bank, task, feat, set_choice=choice)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            low = block(bank, task, feat, set_choice=choice)
    assert torch.isfinite(low).all()
    err = (low.float() - ref).abs().max() / ref.abs().max()
    assert err < 0.05, float(err)


def test_clear_errors():
    block = A2SIBlock()
    task, feat = make_inputs(2, 7, 7)
    with pytest.raises(ValueError, match='bank must have shape'):
        block(torch.zeros(4, 16, 256), task, feat)
    with pytest.raises(ValueError, match='set_choice values'):
        block(BasisVectorBank()(), task, feat, set_choice=torch.full((2, K), 4))
    with pytest.raises(ValueError, match='task feature has batch 3'):
        block(BasisVectorBank()(), torch.randn(3, 2, 2, 2), feat)
    with pytest.raises(ValueError, match='filter_num'):
        A2SIBlock(filter_num=8, vector_num=4)
    with pytest.raises(ValueError, match='selection'):
        A2SIBlock(selection='topk')


def test_chain_runs_block_by_index_and_shares_task_codes():
    chain = RSCChain().eval()
    for blk in chain.blocks:
        randomise(blk)
    bank = BasisVectorBank()()
    task, feat = make_inputs(2, 7, 9)
    codes = chain.encode_task(task_sequence(task))
    with torch.no_grad():
        for i in range(chain.num_blocks):
            torch.testing.assert_close(
                chain(bank, codes[i], feat, i),
                chain.blocks[i](bank, task, feat),
                atol=1e-6,
                rtol=0)
    with pytest.raises(IndexError):
        chain(bank, codes[0], feat, 3)


def test_gumbel_noise_off_makes_training_deterministic():
    """gumbel_noise=False: training picks the argmax sets (same as eval) with the
    straight-through gradient, so two training passes agree; with noise they may not."""
    from cldyn_mm.models.fusion.a2si import choose_sets
    torch.manual_seed(0)
    logits = torch.randn(4, 4, 4, requires_grad=True)
    w1, i1 = choose_sets(logits, training=True, tau=0.5, noise=False)
    w2, i2 = choose_sets(logits, training=True, tau=0.5, noise=False)
    assert torch.equal(i1, logits.argmax(-1)) and torch.equal(i1, i2)
    w1.sum().backward()  # straight-through gradient reaches the logits
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    draws = {
        tuple(choose_sets(logits, training=True, tau=0.5)[1].flatten().tolist())
        for _ in range(20)
    }
    assert len(draws) > 1  # Gumbel noise changes the choice between draws
