"""A dataset of registered infrared / visible image pairs, matched by file stem."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from cldyn_mm.registry import DATASETS

IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')

# (infrared folder, visible folder) names of common IVIF datasets, tried in order when
# ``data_prefix`` does not name the folders: MSRS/RoadScene/LLVIP/TNO-style, FMB/M3FD-style,
# VT5000-style (RGB-T salient object detection).
KNOWN_LAYOUTS: Tuple[Tuple[str, str], ...] = (
    ('ir', 'vi'),
    ('ir', 'vis'),
    ('IR', 'VIS'),
    ('Infrared', 'Visible'),
    ('infrared', 'visible'),
    ('T', 'RGB'),
    ('Ir', 'Vis'),
)


def list_images(folder: str, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> Dict[str, str]:
    """Map stem -> path for the image files directly inside ``folder``.

    Raises a clear error for a missing folder, a folder without images and a stem that
    appears with two extensions (``a.png`` and ``a.jpg``), which would make pairing ambiguous.
    """
    if not osp.isdir(folder):
        raise FileNotFoundError(f'image folder not found: {folder}')
    exts = tuple(e.lower() for e in extensions)
    found: Dict[str, str] = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = osp.splitext(name)
        if ext.lower() not in exts or name.startswith('.'):
            continue
        path = osp.join(folder, name)
        if not osp.isfile(path):
            continue
        if stem in found:
            raise ValueError(f'two files with the stem {stem!r} in {folder}: '
                             f'{osp.basename(found[stem])} and {name}; pairing is by stem')
        found[stem] = path
    if not found:
        raise ValueError(f'no images ({", ".join(exts)}) found in {folder}')
    return found


def resolve_pair_folders(root: str,
                         ir: Optional[str] = None,
                         vi: Optional[str] = None) -> Tuple[str, str]:
    """Find the infrared and visible folders below ``root``.

    Explicit ``ir`` / ``vi`` (relative to ``root`` or absolute) win; otherwise the first of
    :data:`KNOWN_LAYOUTS` whose two folders both exist is used.
    """
    if ir and vi:
        return osp.join(root, ir), osp.join(root, vi)
    for ir_name, vi_name in KNOWN_LAYOUTS:
        ir_dir, vi_dir = osp.join(root, ir or ir_name), osp.join(root, vi or vi_name)
        if osp.isdir(ir_dir) and osp.isdir(vi_dir):
            return ir_dir, vi_dir
    tried = ', '.join(f'{a}/{b}' for a, b in KNOWN_LAYOUTS)
    raise FileNotFoundError(
        f'no infrared/visible folder pair found in {root!r} (tried {tried}); set '
        "data_prefix=dict(ir='<ir folder>', vi='<visible folder>')")


def pair_by_stem(ir_files: Dict[str, str],
                 vi_files: Dict[str, str],
                 ir_dir: str,
                 vi_dir: str,
                 unpaired: str = 'error') -> List[str]:
    """Stems present in both folders, sorted. Unpaired stems raise (or warn with 'skip')."""
    only_ir = sorted(set(ir_files) - set(vi_files))
    only_vi = sorted(set(vi_files) - set(ir_files))
    if only_ir or only_vi:
        parts = []
        for stems, have, lack in ((only_ir, ir_dir, vi_dir), (only_vi, vi_dir, ir_dir)):
            if stems:
                shown = ', '.join(stems[:10]) + (' ...' if len(stems) > 10 else '')
                parts.append(f'{len(stems)} image(s) in {have} have no partner in {lack}: '
                             f'{shown}')
        msg = '; '.join(parts)
        if unpaired == 'error':
            raise ValueError(msg + " (pairs are matched by file stem; pass unpaired='skip' to "
                             'ignore them)')
        print_log('skipping unpaired images: ' + msg, logger='current', level=30)
    return sorted(set(ir_files) & set(vi_files))


@DATASETS.register_module()
class PairedImageDataset(BaseDataset):
    """Infrared / visible image pairs for fusion, matched by file stem (never by order).

    Layout: ``data_root/<ir folder>/<stem>.<ext>`` and ``data_root/<vi folder>/<stem>.<ext>``
    with png/jpg/jpeg/bmp/tif/tiff files; the two extensions of a pair may differ. The folder
    names come from ``data_prefix=dict(ir=..., vi=...)`` or are detected from
    :data:`KNOWN_LAYOUTS`. Each item is ``dict(stem, ir_path, vi_path)`` before the pipeline.

    Args:
        ann_file (str): Optional split file (relative to ``data_root``) listing one stem per
            line; only those pairs are used, in that order. Defaults to '' (all pairs).
        data_prefix (dict): ``ir`` and ``vi`` folder names. Defaults to auto-detection.
        unpaired (str): ``'error'`` (default) raises for an image without a partner,
            ``'skip'`` logs and ignores it.
        extensions (Sequence[str]): Accepted file extensions (case-insensitive).
        **kwargs: Other :class:`mmengine.dataset.BaseDataset` arguments (``pipeline``,
            ``test_mode``, ``indices``, ``lazy_init`` ...).
    """

    METAINFO = dict(task='fusion')

    def __init__(self,
                 ann_file: str = '',
                 data_root: str = '',
                 data_prefix: Optional[dict] = None,
                 unpaired: str = 'error',
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 **kwargs) -> None:
        if unpaired not in ('error', 'skip'):
            raise ValueError(f"unpaired must be 'error' or 'skip', got {unpaired!r}")
        data_prefix = dict(data_prefix or {})
        unknown = set(data_prefix) - {'ir', 'vi'}
        if unknown:
            raise KeyError(f'data_prefix accepts the keys ir and vi, got {sorted(unknown)}')
        self._named_prefix = {k: data_prefix.get(k) for k in ('ir', 'vi')}
        self.unpaired = unpaired
        self.extensions = tuple(extensions)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix={
                k: v
                for k, v in data_prefix.items() if v
            },
            **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_root or ''
        ir_dir, vi_dir = resolve_pair_folders(root, self._named_prefix['ir'],
                                              self._named_prefix['vi'])
        ir_files = list_images(ir_dir, self.extensions)
        vi_files = list_images(vi_dir, self.extensions)
        if self.ann_file:
            stems = self._read_split(self.ann_file)
            missing = [s for s in stems if s not in ir_files or s not in vi_files]
            if missing:
                raise ValueError(f'{len(missing)} stem(s) listed in {self.ann_file} have no '
                                 f'image pair in {ir_dir} / {vi_dir}: {", ".join(missing[:10])}')
        else:
            stems = pair_by_stem(ir_files, vi_files, ir_dir, vi_dir, self.unpaired)
        return [dict(stem=s, ir_path=ir_files[s], vi_path=vi_files[s]) for s in stems]

    @staticmethod
    def _read_split(path: str) -> List[str]:
        if not osp.isfile(path):
            raise FileNotFoundError(f'split file not found: {path}')
        with open(path) as f:
            stems = [osp.splitext(line.strip())[0] for line in f if line.strip()]
        if not stems:
            raise ValueError(f'split file {path} lists no stems')
        return stems
