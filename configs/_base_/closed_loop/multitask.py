# Closed loop with the three tasks at once (the paper's setting): 'det' (the frozen RTMDet-tiny
# of configs/_base_/task_models/rtmdet_tiny_adapter.py), 'seg' (SegFormer-b0) and 'sod' (the
# saliency network); each step takes one batch per task and combines the three task gradients
# with CAGrad weights (lam 0.5, spec section 4). A config adds a detection, a segmentation and a
# saliency dataset base (configs/_base_/datasets/, task-keyed names) and wraps them per task.
_base_ = [
    './cldyn_runtime.py',
    '../task_models/rtmdet_tiny_adapter.py',
    '../task_models/segformer_b0_adapter.py',
    '../task_models/sod_adapter.py',
]

model = dict(
    tasks=dict(
        det={{_base_.det_task_adapter}},
        seg={{_base_.seg_task_adapter}},
        sod={{_base_.sod_task_adapter}}))
