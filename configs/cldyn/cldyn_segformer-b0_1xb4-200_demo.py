# CLDyN closed loop on the generated demo data (tools/dataset_converters/make_demo_data.py),
# task 'seg': the same bases as the real-data configs with the demo dataset, and a schedule
# that runs on a CPU.
#   python tools/train.py configs/cldyn/cldyn_segformer-b0_1xb4-200_demo.py --cfg-options \
#       model.fuser.vfn_checkpoint=VFN.pth model.tasks.seg.checkpoint=TASK.pth
# tools/run_demo_pipeline.py runs the whole chain (VFN, task network, this, evaluation).
_base_ = ['../_base_/closed_loop/demo_seg.py']

train_cfg = dict(max_iters=200, val_interval=100)
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=100))
