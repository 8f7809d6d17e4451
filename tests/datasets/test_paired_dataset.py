import os

import cv2
import numpy as np
import pytest

from cldyn_mm.datasets import PairedImageDataset
from cldyn_mm.datasets.transforms import LoadIRVisPair
from cldyn_mm.testing import MemoryStorageBackend, memory_backend_args


def _write_pair(root,
                stem,
                ir_dir='ir',
                vi_dir='vi',
                size=(24, 16),
                ir_ext='.png',
                vi_ext='.png',
                ir_dtype=np.uint8,
                vi_grey=False,
                seed=0):
    rng = np.random.default_rng(seed)
    w, h = size
    os.makedirs(root / ir_dir, exist_ok=True)
    os.makedirs(root / vi_dir, exist_ok=True)
    hi = np.iinfo(ir_dtype).max
    ir = rng.integers(0, hi, (h, w), dtype=ir_dtype, endpoint=True)
    vi = rng.integers(0, 255, (h, w) if vi_grey else (h, w, 3), dtype=np.uint8, endpoint=True)
    assert cv2.imwrite(str(root / ir_dir / f'{stem}{ir_ext}'), ir)
    assert cv2.imwrite(str(root / vi_dir / f'{stem}{vi_ext}'), vi)
    return ir, vi


def test_pairs_by_stem_not_by_listing_order(tmp_path):
    # ir listing order: a.png, b.png; vi listing order: a.jpg? no: b.bmp sorts before a.png? no
    _write_pair(tmp_path, 'b_scene', ir_ext='.png', vi_ext='.bmp', seed=1)
    _write_pair(tmp_path, 'a_scene', ir_ext='.tif', vi_ext='.png', seed=2)
    ds = PairedImageDataset(data_root=str(tmp_path))
    items = [ds.get_data_info(i) for i in range(len(ds))]
    assert [d['stem'] for d in items] == ['a_scene', 'b_scene']
    for d in items:
        assert os.path.splitext(os.path.basename(d['ir_path']))[0] == d['stem']
        assert os.path.splitext(os.path.basename(d['vi_path']))[0] == d['stem']


@pytest.mark.parametrize('ir_dir,vi_dir', [('ir', 'vi'), ('Infrared', 'Visible'), ('T', 'RGB')])
def test_known_layouts_are_detected(tmp_path, ir_dir, vi_dir):
    _write_pair(tmp_path, '0001', ir_dir, vi_dir)
    ds = PairedImageDataset(data_root=str(tmp_path))
    assert len(ds) == 1
    assert f'{os.sep}{ir_dir}{os.sep}' in ds.get_data_info(0)['ir_path']


def test_configurable_folder_names(tmp_path):
    _write_pair(tmp_path, 'x', 'thermal', 'colour')
    ds = PairedImageDataset(data_root=str(tmp_path), data_prefix=dict(ir='thermal', vi='colour'))
    assert len(ds) == 1


def test_unpaired_stem_is_an_error_naming_it(tmp_path):
    _write_pair(tmp_path, 'good')
    _write_pair(tmp_path, 'lonely')
    os.remove(tmp_path / 'vi' / 'lonely.png')
    with pytest.raises(ValueError, match=r'lonely') as e:
        PairedImageDataset(data_root=str(tmp_path))
    assert str(tmp_path / 'ir') in str(e.value)
    ds = PairedImageDataset(data_root=str(tmp_path), unpaired='skip')
    assert len(ds) == 1


def test_empty_and_missing_folders(tmp_path):
    (tmp_path / 'ir').mkdir()
    (tmp_path / 'vi').mkdir()
    with pytest.raises(ValueError, match='no images'):
        PairedImageDataset(data_root=str(tmp_path))
    with pytest.raises(FileNotFoundError, match='no infrared/visible folder pair'):
        PairedImageDataset(data_root=str(tmp_path / 'nowhere'))


def test_duplicate_stem_with_two_extensions(tmp_path):
    _write_pair(tmp_path, 'a')
    cv2.imwrite(str(tmp_path / 'ir' / 'a.jpg'), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match='two files with the stem'):
        PairedImageDataset(data_root=str(tmp_path))


def test_split_file(tmp_path):
    for s in ('a', 'b', 'c'):
        _write_pair(tmp_path, s)
    (tmp_path / 'val.txt').write_text('c\nb.png\n')
    ds = PairedImageDataset(data_root=str(tmp_path), ann_file='val.txt')
    assert [ds.get_data_info(i)['stem'] for i in range(len(ds))] == ['c', 'b']
    (tmp_path / 'bad.txt').write_text('a\nzzz\n')
    with pytest.raises(ValueError, match='zzz'):
        PairedImageDataset(data_root=str(tmp_path), ann_file='bad.txt')


def test_load_8_and_16_bit_ir_and_grey_visible(tmp_path):
    ir8, vi = _write_pair(tmp_path, 'a', vi_grey=True)
    ir16, _ = _write_pair(tmp_path / 'sixteen', 'b', ir_dtype=np.uint16)
    load = LoadIRVisPair()
    r = load(dict(ir_path=str(tmp_path / 'ir' / 'a.png'), vi_path=str(tmp_path / 'vi' / 'a.png')))
    assert r['img'].shape == (16, 24, 4) and r['img'].dtype == np.float32
    np.testing.assert_allclose(r['img'][..., 3], ir8.astype(np.float32), atol=1e-4)
    for c in range(3):  # grey visible replicated into B, G, R
        np.testing.assert_allclose(r['img'][..., c], vi.astype(np.float32), atol=1e-4)
    r16 = load(
        dict(
            ir_path=str(tmp_path / 'sixteen' / 'ir' / 'b.png'),
            vi_path=str(tmp_path / 'sixteen' / 'vi' / 'b.png')))
    np.testing.assert_allclose(r16['img'][..., 3], ir16 / 65535. * 255., rtol=1e-5, atol=1e-3)
    rmm = LoadIRVisPair(ir_normalize='minmax')(
        dict(
            ir_path=str(tmp_path / 'sixteen' / 'ir' / 'b.png'),
            vi_path=str(tmp_path / 'sixteen' / 'vi' / 'b.png')))
    assert rmm['img'][..., 3].min() == 0 and rmm['img'][..., 3].max() == pytest.approx(255)


def test_three_channel_ir_is_reduced(tmp_path):
    _write_pair(tmp_path, 'a')
    grey = cv2.imread(str(tmp_path / 'ir' / 'a.png'), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(tmp_path / 'ir' / 'a.png'), np.repeat(grey[..., None], 3, 2))
    r = LoadIRVisPair()(
        dict(ir_path=str(tmp_path / 'ir' / 'a.png'), vi_path=str(tmp_path / 'vi' / 'a.png')))
    np.testing.assert_allclose(r['img'][..., 3], grey, atol=1e-4)


def test_size_mismatch_and_unreadable_files_name_the_files(tmp_path):
    _write_pair(tmp_path, 'a')
    cv2.imwrite(str(tmp_path / 'vi' / 'a.png'), np.zeros((10, 10, 3), np.uint8))
    paths = dict(ir_path=str(tmp_path / 'ir' / 'a.png'), vi_path=str(tmp_path / 'vi' / 'a.png'))
    with pytest.raises(ValueError, match='differ in size') as e:
        LoadIRVisPair()(dict(paths))
    assert paths['ir_path'] in str(e.value) and paths['vi_path'] in str(e.value)
    (tmp_path / 'ir' / 'a.png').write_bytes(b'not an image')
    with pytest.raises(OSError, match='cannot decode') as e:
        LoadIRVisPair()(dict(paths))
    assert paths['ir_path'] in str(e.value)


def test_backend_args_read_pairs_through_mmengine_fileio(tmp_path):
    """``LoadIRVisPair(backend_args=...)`` reads through the given storage backend (remote
    storage in a config, as mmcv's LoadImageFromFile does) and decodes as the local read does;
    a missing or undecodable file is named."""
    backend_args = memory_backend_args()
    _write_pair(tmp_path, 'a', ir_dtype=np.uint16)
    local = dict(ir_path=str(tmp_path / 'ir' / 'a.png'), vi_path=str(tmp_path / 'vi' / 'a.png'))
    remote = dict(ir_path='store/ir/a.png', vi_path='store/vi/a.png')
    for key in ('ir_path', 'vi_path'):
        MemoryStorageBackend.files[remote[key]] = open(local[key], 'rb').read()
    load = LoadIRVisPair(backend_args=backend_args)
    np.testing.assert_array_equal(load(dict(remote))['img'], LoadIRVisPair()(dict(local))['img'])
    assert 'cldyn_test_memory' in repr(load)
    with pytest.raises(FileNotFoundError, match='image file not found: store/ir/b.png'):
        load(dict(ir_path='store/ir/b.png', vi_path='store/vi/a.png'))
    MemoryStorageBackend.files['store/ir/c.png'] = b'not an image'
    with pytest.raises(OSError, match='cannot decode .*store/ir/c.png'):
        load(dict(ir_path='store/ir/c.png', vi_path='store/vi/a.png'))
    with pytest.raises(FileNotFoundError, match='image file not found: .*missing.png'):
        LoadIRVisPair()(dict(local, ir_path=str(tmp_path / 'missing.png')))
