# VFN, the visually guided fusion network (46,617 parameters), trained without labels.
model = dict(
    type='VFNFuser',
    data_preprocessor=dict(type='PairedDataPreprocessor'),
    fusion_net=dict(type='VFN', channels=8, num_blocks=4),
    loss=dict(type='VFNLoss', intensity_weight=0.2, gradient_weight=1.0))
