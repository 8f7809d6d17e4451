# CLDyN compensated fusion (spec section 3): the frozen VFN with one RSC chain per modality
# (3 A2SI blocks each, about 645k parameters per chain) and the shared basis vector bank.
# No task network here: the task feature T comes from outside, e.g.
#   python tools/fuse.py configs/cldyn/cldyn_vfn-rsc_pairs.py CKPT --ir IR --vi VI --out OUT \
#       --task-feat T.pt
# Without a task feature the model gives the plain VFN fusion. A checkpoint of the research
# code converts with tools/model_converters/convert_official_ckpt.py; set vfn_checkpoint to start
# RSC training from a VFN trained with configs/vfn/*.py.
_base_ = ['../_base_/datasets/paired_fusion.py', '../_base_/default_runtime.py']

embed_dim = 256
set_num = 4
vector_num = 32
model = dict(
    type='CLDyNFuser',
    data_preprocessor=dict(type='PairedDataPreprocessor'),
    fusion_net=dict(type='VFN', channels=8, num_blocks=4),
    rsc=dict(
        type='RSCChain',
        num_blocks=3,  # VFN num_blocks - 1
        embed_dim=embed_dim,
        in_channels=8,
        filter_num=4,
        set_num=set_num,
        vector_num=vector_num,
        tau=0.5,  # Gumbel-softmax temperature of the set choice (training only)
        selection='hard'),  # 'hard': the research code's top-n; 'soft': differentiable
    bank=dict(type='BasisVectorBank', set_num=set_num, vector_num=vector_num, embed_dim=embed_dim),
    vfn_checkpoint=None)

# evaluation of the fused images (tools/test.py) only; RSC training is configured elsewhere
train_dataloader = None
test_cfg = dict(type='TestLoop')
val_dataloader = None
val_evaluator = None
