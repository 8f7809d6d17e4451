# CLDyN closed loop on the generated demo data (tools/dataset_converters/make_demo_data.py),
# task 'sod': the same bases as the real-data configs with the demo dataset, and a schedule
# that runs on a CPU.
#   python tools/train.py configs/demo/cldyn_demo_sod.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.sod.checkpoint=TASK.pth
# tools/run_demo_pipeline.py runs the whole chain (VFN, task network, this, evaluation).
_base_ = ['../_base_/datasets/demo_sod.py', '../_base_/closed_loop/sod_task.py']

train_dataloader = dict(_delete_=True, sod={{_base_.train_dataloader}})
val_dataloader = dict(_delete_=True, sod={{_base_.val_dataloader}})
val_evaluator = dict(_delete_=True, sod={{_base_.val_evaluator}})
test_dataloader = val_dataloader
test_evaluator = val_evaluator

train_cfg = dict(max_iters=200, val_interval=100)
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=100),
    best_checkpoint=dict(indicators=dict(sod='sod/MAE')))
