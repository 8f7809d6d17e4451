# The shipped CLDyN detection model for MSRS (model index: cldyn_rtmdet-tiny_msrs,
# docs/model_zoo.md): FusedDetector in mode 'cldyn' = the shipped VFN (vfn_ivif) + RSC and
# basis vector bank trained in the closed loop (200 iterations of batch 4, the seed that is
# median on the train split) for a frozen RTMDet-tiny trained from scratch on that VFN's fusion
# of the MSRS train pairs (1200 iterations of batch 4), at the detector's 320x240 resolution.
# One weight file holds the whole wrapper (adapter.model.*, fuser.*):
#   python tools/fuse.py cldyn_rtmdet-tiny_msrs --ir DIR --vi DIR --out OUT --pred-out p.json
#   python tools/test.py configs/cldyn/cldyn_rtmdet-tiny_1xb4-200_msrs.py \
#       cldyn_mm/model_zoo/weights/cldyn_rtmdet-tiny_msrs.pth [--cfg-options model.mode=vfn]
# Made by tools/experiments/train_zoo.sh --pack.
_base_ = ['../experiments/msrs_det/rtmdet-tiny_fused-eval_msrs.py']

model = dict(mode='cldyn')
