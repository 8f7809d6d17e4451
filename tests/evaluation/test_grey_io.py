"""load_grey: the metrics' grey convention read through mmengine.fileio / mmcv, equal to
OpenCV's own reading of the file, from local disk or a storage backend."""
import cv2
import numpy as np
import pytest

from cldyn_mm.evaluation.functional import load_grey
from cldyn_mm.testing import MemoryStorageBackend, memory_backend_args


def _reference(path):
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return np.round(cv2.cvtColor(bgr.astype(np.float32), cv2.COLOR_BGR2GRAY))


@pytest.mark.parametrize('kind', ['colour', 'grey', 'grey16', 'alpha'])
def test_grey_levels_equal_opencv_reading(tmp_path, kind):
    rng = np.random.default_rng(0)
    img = {
        'colour': rng.integers(0, 256, (23, 31, 3), dtype=np.uint8),
        'grey': rng.integers(0, 256, (23, 31), dtype=np.uint8),
        'grey16': rng.integers(0, 65536, (23, 31), dtype=np.uint16),
        'alpha': rng.integers(0, 256, (23, 31, 4), dtype=np.uint8),
    }[kind]
    path = tmp_path / f'{kind}.png'
    cv2.imwrite(str(path), img)
    grey = load_grey(path)
    assert grey.shape == (23, 31) and grey.dtype == np.float64
    np.testing.assert_array_equal(grey, _reference(path))


def test_reads_through_a_storage_backend_and_names_bad_files(tmp_path):
    path = tmp_path / 'a.png'
    cv2.imwrite(str(path), np.arange(12 * 10 * 3, dtype=np.uint8).reshape(12, 10, 3))
    backend_args = memory_backend_args()
    MemoryStorageBackend.files['store/a.png'] = path.read_bytes()
    np.testing.assert_array_equal(load_grey('store/a.png', backend_args), load_grey(path))
    with pytest.raises(FileNotFoundError, match='image file not found: store/b.png'):
        load_grey('store/b.png', backend_args)
    MemoryStorageBackend.files['store/c.png'] = b'not an image'
    with pytest.raises(ValueError, match='store/c.png'):
        load_grey('store/c.png', backend_args)
    with pytest.raises(FileNotFoundError, match='missing.png'):
        load_grey(tmp_path / 'missing.png')
