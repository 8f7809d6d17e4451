# The CLDyN fuser (spec section 3): the VFN of stage 1 (frozen) with one RSC chain per
# modality and the shared basis vector bank. Only `cldyn_fuser` is defined, so this file
# composes with other configs; set `vfn_checkpoint` to the VFN training checkpoint.
cldyn_fuser = dict(
    type='CLDyNFuser',
    fusion_net=dict(type='VFN', channels=8, num_blocks=4),
    rsc=dict(
        type='RSCChain',
        num_blocks=3,
        embed_dim=256,
        in_channels=8,
        filter_num=4,
        set_num=4,
        vector_num=32,
        tau=0.5,
        selection='hard'),
    bank=dict(type='BasisVectorBank', set_num=4, vector_num=32, embed_dim=256),
    vfn_checkpoint=None)
