"""Config edits used by the demo pipeline and the closed-loop tests."""
from mmengine.config import Config

from cldyn_mm.testing import limit_datasets, main_process_loaders, rescale_pipelines, set_data_root


def make_cfg(tmp_path):
    path = tmp_path / 'cfg.py'
    path.write_text(
        "test_pipeline = [dict(type='Resize', scale=(320, 256)), dict(type='Pack')]\n"
        "train_dataloader = dict(batch_size=4, num_workers=2, persistent_workers=True,\n"
        "    dataset=dict(type='D', data_root='a/', pipeline=[\n"
        "        dict(type='RandomCrop', crop_size=(256, 256))]))\n"
        "val_dataloader = dict(batch_size=1, num_workers=2,\n"
        "    dataset=dict(type='D', data_root='a/', pipeline=test_pipeline))\n"
        "test_dataloader = val_dataloader\n")
    return Config.fromfile(str(path))


def test_rescale_scales_each_pipeline_once_even_when_shared(tmp_path):
    cfg = make_cfg(tmp_path)
    keys = ('train_dataloader', 'val_dataloader', 'test_dataloader')
    rescale_pipelines({k: cfg[k] for k in keys}, 0.5)
    assert cfg.train_dataloader.dataset.pipeline[0].crop_size == (128, 128)
    assert cfg.val_dataloader.dataset.pipeline[0].scale == (160, 128)
    assert cfg.test_dataloader.dataset.pipeline[0].scale == (160, 128)  # not 0.25


def test_loader_root_and_limit_edits(tmp_path):
    cfg = make_cfg(tmp_path)
    main_process_loaders(cfg.train_dataloader)
    assert cfg.train_dataloader.num_workers == 0 and not cfg.train_dataloader.persistent_workers
    set_data_root(cfg.val_dataloader, 'b/')
    limit_datasets(cfg.val_dataloader, 3)
    assert cfg.val_dataloader.dataset.data_root == 'b/'
    assert cfg.val_dataloader.dataset.indices == 3
    assert cfg.train_dataloader.dataset.data_root == 'a/'
