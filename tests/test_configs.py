"""The repository's configs: every one parses, names follow the OpenMMLab form, no config reads
another with ``Config.fromfile``, and the multi-task configs carry exactly the task parts of the
single-task ones (one place to change a dataset or a task network)."""
import re
from pathlib import Path

import pytest
from mmengine.config import Config

CONFIGS = Path(__file__).resolve().parents[1] / 'configs'
ENTRY = {'cldyn_m3fd_det', 'cldyn_fmb_seg', 'cldyn_vt5000_sod', 'cldyn_multitask', 'cldyn_msrs_det'}
LEAVES = sorted(p for p in CONFIGS.rglob('*.py') if '_base_' not in p.parts)
# {algorithm}_{components}_{N}xb{B}-{schedule}_{dataset} (mmdet's form); evaluation-only configs
# have no schedule: {algorithm}_{components}_{dataset}
OPENMMLAB_NAME = re.compile(r'^[a-z0-9-]+_[a-z0-9-]+(_\d+xb\d+-[a-z0-9]+)?_[a-z0-9-]+$')


@pytest.mark.parametrize('path', LEAVES, ids=lambda p: str(p.relative_to(CONFIGS)))
def test_config_parses_and_is_named_in_openmmlab_form(path):
    cfg = Config.fromfile(str(path))
    assert 'model' in cfg
    if path.parent == CONFIGS:
        assert path.stem in ENTRY  # the user's entry configs stay at their paths
    else:
        assert OPENMMLAB_NAME.match(path.stem), path.stem


def test_no_config_reads_another_config_itself():
    for path in CONFIGS.rglob('*.py'):
        assert 'fromfile' not in path.read_text(), path


@pytest.mark.parametrize('multi,singles', [
    ('cldyn_multitask.py',
     dict(det='cldyn_m3fd_det.py', seg='cldyn_fmb_seg.py', sod='cldyn_vt5000_sod.py')),
    ('cldyn/cldyn_multitask_1xb4-200_demo.py',
     dict(
         det='cldyn/cldyn_rtmdet-tiny_1xb4-200_demo.py',
         seg='cldyn/cldyn_segformer-b0_1xb4-200_demo.py',
         sod='cldyn/cldyn_sod-r18-fpn_1xb4-200_demo.py')),
])
def test_multitask_config_has_the_single_task_parts(multi, singles):
    multi = Config.fromfile(str(CONFIGS / multi))
    assert set(multi.model.tasks) == set(singles)
    for task, single in singles.items():
        single = Config.fromfile(str(CONFIGS / single))
        assert multi.model.tasks[task] == single.model.tasks[task]
        for key in ('train_dataloader', 'val_dataloader', 'val_evaluator'):
            assert multi[key][task] == single[key][task], (task, key)
        indicators = multi.default_hooks.best_checkpoint.indicators
        assert indicators[task] == single.default_hooks.best_checkpoint.indicators[task]
        # the closed loop's options (loss, gradient combination, optimizer) are the runtime's
        assert {k: v for k, v in multi.model.items() if k != 'tasks'} == \
            {k: v for k, v in single.model.items() if k != 'tasks'}
        assert multi.optim_wrapper == single.optim_wrapper
