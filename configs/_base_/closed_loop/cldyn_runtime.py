# Closed-loop (reward-penalty) training of CLDyN's RSC + bank for frozen task networks
# (spec section 4): the model, the loops, the optimizer and the hooks. A closed-loop config
# adds the tasks through configs/_base_/closed_loop/{det,seg,sod}_task.py and, per task, a
# dataloader and evaluator:  train_dataloader = dict(det=...), val_dataloader = dict(det=...),
# val_evaluator = dict(det=...).
_base_ = ['../default_runtime.py', '../models/cldyn_fuser.py']

model = dict(
    type='ClosedLoopCLDyN',
    data_preprocessor=dict(type='FusedTaskDataPreprocessor'),
    fuser={{_base_.cldyn_fuser}},  # model.fuser.vfn_checkpoint: the VFN of stage 1
    fuser_checkpoint=None,  # optional: start from a CLDyN fuser checkpoint
    tasks=dict(),  # name -> frozen task adapter (with the stage-1.5 `checkpoint`)
    penalty_weight=5.0,  # Loss_t = L1 + 5 relu(L1 - L0)
    freeze_prototypes=False)  # True: keep the A2SI set prototypes fixed (research: trained)

# The closed-loop update (cldyn_mm/engine/optimizers/multitask_optim_wrapper.py): per-task
# gradients of RSC + bank, all-reduced, combined with CAGrad, clipped per group, one step.
# Adam, lr 0.01, weight decay 1e-4 (spec); the runner builds it over the trainable RSC + bank
# parameters (the frozen ones never get a gradient). AMP: tools/train.py --amp
# (AmpMultiTaskOptimWrapper); accumulation: accumulative_counts=k.
optim_wrapper = dict(
    type='MultiTaskOptimWrapper',
    optimizer=dict(type='Adam', lr=0.01, weight_decay=1e-4),
    cagrad=dict(lam=0.5, steps=250, lr=0.1),
    clip_norm=1.0,  # per chain (rsc_ir, rsc_vis), after the combination (research code)
    clip_bank=False,  # True: clip the bank's gradient norm too (not in the research code)
    nonfinite='raise')  # or 'skip': a NaN / inf task loss drops that update with a warning
param_scheduler = []

train_cfg = dict(type='ClosedLoopTrainLoop', max_iters=2000, val_interval=500)
val_cfg = dict(type='ClosedLoopValLoop')
test_cfg = dict(type='ClosedLoopTestLoop')

# every task's gradient is all-reduced by the optimizer wrapper (no DDP); the model wrapper
# only broadcasts rank 0's weights: cldyn_mm/models/closed_loop/distributed.py,
# tools/dist_train.sh
model_wrapper_cfg = dict(type='ClosedLoopDistributedWrapper')

default_hooks = dict(
    _delete_=True,
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=500, by_epoch=False, max_keep_ckpts=3),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    # a checkpoint from another configuration is refused before anything is loaded
    checkpoint_check=dict(type='CheckpointCompatibilityHook'),
    # best.pth by the spec's rule (>= 2 tasks improved, none > 5 % worse; one task: improved);
    # the task bases fill in indicators
    best_checkpoint=dict(type='ClosedLoopBestCheckpointHook', indicators=dict(), tolerance=0.05),
    # predictions on IR | VIS | VFN | CLDyN panels during validation: draw_val=True (drawn by
    # the runtime's FusionVisualizer, which draws every task's predictions)
    visualization=dict(
        type='TaskVisualizationHook',
        draw=False,
        interval=1,
        max_per_batch=2,
        score_thr=0.3,
        draw_val=False,
        draw_test=True))

# <task>/L0, /L1, /penalty and /alpha are averaged over the logging window like <task>/loss
# (MMEngine averages only keys matching mean_pattern and shows the current value of the
# others), so a log line obeys loss = L1 + 5 penalty.
log_processor = dict(mean_pattern=r'.*(loss|time|data_time|grad_norm|/L0|/L1|/penalty|/alpha).*')
