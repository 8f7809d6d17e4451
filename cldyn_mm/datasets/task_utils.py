"""Helpers shared by the paired task datasets (detection, segmentation, salient objects).

Folder resolution, stem pairing of infrared / visible / label files, split files, cheap image
size look-up and box validation, all with errors that name the offending file.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from .paired_image_dataset import IMAGE_EXTENSIONS, list_images, pair_by_stem, resolve_pair_folders


def image_size(path: str) -> Tuple[int, int]:
    """``(width, height)`` of an image file, read from its header when possible."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'image file not found: {path}')
    try:
        from PIL import Image
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except ImportError:  # pragma: no cover - Pillow comes with mmcv
        pass
    except Exception:  # noqa: BLE001 - fall back to OpenCV for formats PIL rejects
        pass
    import cv2
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if img is None:
        raise OSError(f'cannot decode image file (corrupt or unsupported format): {path}')
    return int(img.shape[1]), int(img.shape[0])


def find_subdir(root: str, name: str, what: str = 'folder') -> str:
    """``root/name``; when missing, a case-insensitive match (``Train`` for ``train``)."""
    path = osp.join(root, name)
    if osp.isdir(path):
        return path
    parent, leaf = osp.split(osp.normpath(path))
    if osp.isdir(parent):
        matches = [
            d for d in sorted(os.listdir(parent))
            if d.lower() == leaf.lower() and osp.isdir(osp.join(parent, d))
        ]
        if len(matches) == 1:
            return osp.join(parent, matches[0])
    raise FileNotFoundError(f'{what} not found: {path}')


def read_split_file(path: str) -> List[str]:
    """Stems listed one per line (extensions are dropped, blank lines and ``#`` ignored)."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'split file not found: {path}')
    with open(path) as f:
        stems = [
            osp.splitext(osp.basename(line.strip()))[0] for line in f
            if line.strip() and not line.lstrip().startswith('#')
        ]
    if not stems:
        raise ValueError(f'split file {path} lists no stems')
    return stems


def collect_pairs(
    root: str,
    ir: Optional[str] = None,
    vi: Optional[str] = None,
    split_file: str = '',
    unpaired: str = 'error',
    extensions: Sequence[str] = IMAGE_EXTENSIONS
) -> Tuple[List[str], Dict[str, str], Dict[str, str], str, str]:
    """Stems of the IR/VIS pairs below ``root`` (optionally restricted to a split file).

    Returns ``(stems, ir_files, vi_files, ir_dir, vi_dir)``; ``ir_files`` / ``vi_files`` map
    stem -> path. Folder names default to :data:`KNOWN_LAYOUTS` detection.
    """
    if unpaired not in ('error', 'skip'):
        raise ValueError(f"unpaired must be 'error' or 'skip', got {unpaired!r}")
    ir_dir, vi_dir = resolve_pair_folders(root, ir, vi)
    ir_files = list_images(ir_dir, extensions)
    vi_files = list_images(vi_dir, extensions)
    if split_file:
        stems = read_split_file(split_file)
        missing = [s for s in stems if s not in ir_files or s not in vi_files]
        if missing:
            raise ValueError(f'{len(missing)} stem(s) listed in {split_file} have no image pair '
                             f'in {ir_dir} / {vi_dir}: {", ".join(missing[:10])}')
    else:
        stems = pair_by_stem(ir_files, vi_files, ir_dir, vi_dir, unpaired)
    return stems, ir_files, vi_files, ir_dir, vi_dir


def list_label_files(folder: str, extensions: Sequence[str]) -> Dict[str, str]:
    """Map stem -> path of the files in ``folder`` with one of ``extensions``.

    A folder without any such file, but with sub-folders, gets an error that names them
    (label sets such as ``labels_yolo/{fusion,ir,vi}`` must be chosen explicitly); an empty
    folder gives an empty map (:func:`require_labels` then names the missing files).
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'label folder not found: {folder}')
    exts = tuple(e.lower() for e in extensions)
    found: Dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = osp.splitext(name)
        if ext.lower() in exts and not name.startswith('.') and osp.isfile(osp.join(folder, name)):
            if stem in found:
                raise ValueError(f'two label files with the stem {stem!r} in {folder}: '
                                 f'{osp.basename(found[stem])} and {name}')
            found[stem] = osp.join(folder, name)
    if not found:
        subdirs = [d for d in sorted(os.listdir(folder)) if osp.isdir(osp.join(folder, d))]
        if subdirs:
            raise ValueError(f'no label files ({", ".join(exts)}) found in {folder}; it has the '
                             f'sub-folders {", ".join(subdirs)}: point the label prefix at one '
                             'of them')
    return found


def require_labels(stems: Sequence[str], labels: Dict[str, str], label_dir: str,
                   suffix_hint: str) -> None:
    """Raise, naming the stems and the expected files, when a pair has no label file."""
    missing = [s for s in stems if s not in labels]
    if missing:
        shown = ', '.join(osp.join(label_dir, s + suffix_hint) for s in missing[:5])
        more = f' and {len(missing) - 5} more' if len(missing) > 5 else ''
        raise FileNotFoundError(f'label file missing for {len(missing)} image pair(s): '
                                f'{shown}{more}')


def check_box(box: Sequence[float], width: int, height: int, tolerance: float,
              where: str) -> List[float]:
    """Validate an ``[x1, y1, x2, y2]`` pixel box against the image and clip it.

    A box that reaches more than ``tolerance`` pixels outside the image, or has no positive
    width/height, raises a ``ValueError`` starting with ``where`` (file and line/object).
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    if not (x2 > x1 and y2 > y1):
        raise ValueError(f'{where}: empty box [x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}] '
                         '(x2 must exceed x1 and y2 must exceed y1)')
    if (x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance):
        raise ValueError(f'{where}: box [x1={x1:g}, y1={y1:g}, x2={x2:g}, y2={y2:g}] lies '
                         f'outside the {width}x{height} image (tolerance {tolerance:g} px)')
    return [max(0., x1), max(0., y1), min(float(width), x2), min(float(height), y2)]
