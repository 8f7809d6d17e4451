# VFN on the generated demo pairs, short enough for 2 CPU cores (a few minutes):
#   python tools/dataset_converters/make_demo_data.py
#   python tools/train.py configs/vfn/vfn_1xb8-200_demo.py
_base_ = [
    '../_base_/models/vfn.py', '../_base_/datasets/demo_pairs.py',
    '../_base_/schedules/vfn_adam.py', '../_base_/default_runtime.py'
]

train_cfg = dict(max_iters=200, val_interval=100)
default_hooks = dict(checkpoint=dict(interval=100), logger=dict(interval=20))
val_evaluator = dict(metric=['EN', 'SD', 'SF', 'AG', 'MI', 'SCD', 'Qabf', 'SSIM'])
test_evaluator = val_evaluator
