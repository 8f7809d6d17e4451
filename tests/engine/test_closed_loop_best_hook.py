"""ClosedLoopBestCheckpointHook's rule (spec section 4): keep a checkpoint when at least two
tasks improved and none is more than 5 % worse than its best; with one task, when it improved."""
import pytest

from cldyn_mm.engine.hooks import ClosedLoopBestCheckpointHook


def hook(**indicators):
    return ClosedLoopBestCheckpointHook(
        indicators=indicators or dict(det='coco/bbox_mAP', seg='mIoU', sod='sod/MAE'))


def test_first_validation_is_kept():
    h = hook()
    assert h.decide(dict(det=0.3, seg=50.0, sod=0.1))[0]
    assert h.best == dict(det=0.3, seg=50.0, sod=0.1)


def test_two_improved_none_much_worse_is_kept():
    h = hook()
    h.decide(dict(det=0.3, seg=50.0, sod=0.1))
    keep, improved, worse = h.decide(dict(det=0.31, seg=51.0, sod=0.104))  # sod 4 % worse
    assert keep and sorted(improved) == ['det', 'seg'] and worse == []


def test_one_task_more_than_five_percent_worse_blocks_it():
    h = hook()
    h.decide(dict(det=0.3, seg=50.0, sod=0.1))
    keep, improved, worse = h.decide(dict(det=0.31, seg=51.0, sod=0.106))  # MAE: lower better
    assert not keep and worse == ['sod']
    # the improved tasks' records still moved on
    assert h.best['det'] == 0.31 and h.best['sod'] == 0.1


def test_only_one_of_three_improved_is_not_kept():
    h = hook()
    h.decide(dict(det=0.3, seg=50.0, sod=0.1))
    assert not h.decide(dict(det=0.35, seg=49.0, sod=0.1))[0]


def test_single_task_plain_improvement():
    h = hook(seg='mIoU')
    assert h.decide(dict(seg=40.0))[0]
    assert not h.decide(dict(seg=39.0))[0]
    assert h.decide(dict(seg=40.5))[0]


def test_rules_inferred_and_overridable():
    h = ClosedLoopBestCheckpointHook(indicators=dict(a='sod/MAE', b='loss_x', c='mIoU'))
    assert h.rules == dict(a='less', b='less', c='greater')
    h = ClosedLoopBestCheckpointHook(indicators=dict(a='score'), rules=dict(a='less'))
    assert h.decide(dict(a=2.0))[0] and h.decide(dict(a=1.0))[0] and not h.decide(dict(a=3.0))[0]
    with pytest.raises(ValueError, match='greater'):
        ClosedLoopBestCheckpointHook(indicators=dict(a='x'), rules=dict(a='bigger'))


def test_records_survive_a_checkpoint_round_trip():
    h = hook()
    h.decide(dict(det=0.3, seg=50.0, sod=0.1))
    ckpt = {}
    h.before_save_checkpoint(None, ckpt)
    h2 = hook()
    h2.after_load_checkpoint(None, ckpt)
    assert h2.best == h.best
    assert not h2.decide(dict(det=0.29, seg=49.0, sod=0.11))[0]


def test_missing_metric_names_the_key():

    class Runner:
        iter = 1

    with pytest.raises(KeyError, match="'seg/mIoU'"):
        hook().after_val_epoch(Runner(), {'det/coco/bbox_mAP': 0.1, 'seg/aAcc': 90.0})


def test_task_without_metrics_counts_as_not_improved(tmp_path):
    """mmdet's CocoMetric reports nothing when there is no detection: no crash; with three
    tasks, two improved ones still keep the checkpoint, one does not."""
    saved = []

    class Runner:
        iter = 3
        work_dir = str(tmp_path)

        def save_checkpoint(self, *args, **kwargs):
            saved.append(args[1])

    h = hook()
    h.after_val_epoch(Runner(), {'seg/mIoU': 50.0, 'sod/sod/MAE': 0.1})
    assert saved == ['best.pth'] and 'det' not in h.best
    h.after_val_epoch(Runner(), {'seg/mIoU': 51.0, 'sod/sod/MAE': 0.12})
    assert saved == ['best.pth']  # one improved, sod 20 % worse
    assert (tmp_path / 'best.json').is_file()


def test_resume_takes_the_records_of_the_validation_after_the_checkpoint(tmp_path):
    """The checkpoint of iteration N is saved before N's validation; a run resumed from it
    takes N's records from best_records.json (same iteration only)."""

    class Runner:
        iter = 4
        work_dir = str(tmp_path)

        def save_checkpoint(self, *args, **kwargs):
            pass

    h = hook(seg='mIoU')
    h.after_val_epoch(Runner(), {'seg/mIoU': 50.0})
    ckpt = {}
    h.before_save_checkpoint(None, ckpt)  # what iteration 4's checkpoint held ...
    h.after_val_epoch(Runner(), {'seg/mIoU': 55.0})  # ... before its validation ran
    resumed = hook(seg='mIoU')
    resumed.after_load_checkpoint(Runner(), ckpt)
    resumed.before_train(Runner())
    assert resumed.best == {'seg': 55.0}
    later = Runner()
    later.iter = 6
    other = hook(seg='mIoU')
    other.after_load_checkpoint(later, ckpt)
    other.before_train(later)  # records of another iteration: the checkpoint's are kept
    assert other.best == {'seg': 50.0}
