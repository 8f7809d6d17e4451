# Control of the model zoo (docs/model_zoo.md, model index: rtmdet-tiny_seafusion_msrs):
# RTMDet-tiny trained with the msrs_det recipe
# (configs/experiments/msrs_det/rtmdet-tiny_fused_1xb4-1200_msrs.py,
# 1200 iterations of batch 4, 320x240) on SeAFusion's fused images of the MSRS train pairs,
# evaluated on SeAFusion's images of the val pairs (DATA_ROOT/fused/SeAFusion/, read in place
# of the visible image). Evaluation only (FusionInferencer serves CLDyN models):
#   python tools/test.py configs/cldyn/rtmdet-tiny_1xb4-1200_msrs-seafusion.py \
#       cldyn_mm/model_zoo/weights/rtmdet-tiny_seafusion_msrs.pth
_base_ = ['../experiments/msrs_det/rtmdet-tiny_fused-eval_msrs.py']

model = dict(mode='vis')
test_dataloader = dict(dataset=dict(data_prefix=dict(vi='fused/SeAFusion')))
val_dataloader = test_dataloader
