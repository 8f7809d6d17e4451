"""Paired infrared/visible detection datasets on top of mmdet's datasets.

Every data info is an mmdet data info (``img_id``, ``img_path``, ``height``, ``width``,
``instances`` with ``bbox`` [x1, y1, x2, y2] in pixels, ``bbox_label``, ``ignore_flag``) plus
``stem``, ``ir_path`` and ``vi_path``; ``img_path`` is the visible file (for visualizers).
Pipelines load the pair with ``LoadIRVisPair`` (one (H, W, 4) image), the boxes with
``mmdet.LoadAnnotations``, and pack with ``PackPairedDetInputs``, so mmdet's geometric
transforms move IR, VIS and boxes together and mmdet's metrics work unchanged.

* :class:`PairedCocoDetDataset`: any COCO json whose ``images[*].file_name`` stems name the
  pairs in the IR / VIS folders (MSRS ``coco_*.json``, M3FD ``coco.json``, the demo data).
* :class:`PairedVOCDetDataset` / :class:`M3FDDataset`: Pascal-VOC XML per stem.
* :class:`PairedYOLODetDataset` / :class:`MSRSDetDataset`: YOLO txt per stem.
* :class:`DemoDetDataset`: the synthetic demo data's COCO json.

Broken labels raise errors that name the file (and line / object): a pair without a label
file, a malformed YOLO line, an unknown class, a box outside the image.
"""
import math
import os.path as osp
import xml.etree.ElementTree as ET
from typing import Dict, List, Optional, Sequence, Tuple

from mmdet.datasets import BaseDetDataset, CocoDataset, XMLDataset
from mmengine.fileio import load

from cldyn_mm.registry import DATASETS
from .demo_metainfo import DEMO_DET_CLASSES, DEMO_DET_PALETTE
from .paired_image_dataset import IMAGE_EXTENSIONS, list_images, resolve_pair_folders
from .task_utils import (check_box, collect_pairs, find_subdir, image_size, list_label_files,
                         require_labels)

M3FD_CLASSES = ('People', 'Car', 'Bus', 'Motorcycle', 'Lamp', 'Truck')
M3FD_PALETTE = ((220, 20, 60), (0, 0, 142), (0, 60, 100), (0, 0, 230), (250, 170, 30), (0, 0, 70))
MSRS_DET_CLASSES = ('person', 'bicycle', 'car')
MSRS_DET_PALETTE = ((220, 20, 60), (119, 11, 32), (0, 0, 142))


def _split_prefix(data_prefix: Optional[dict], allowed: Sequence[str],
                  defaults: dict) -> Dict[str, Optional[str]]:
    data_prefix = dict(data_prefix or {})
    unknown = set(data_prefix) - set(allowed)
    if unknown:
        raise KeyError(f'data_prefix accepts the keys {", ".join(allowed)}, got '
                       f'{sorted(unknown)}')
    merged = dict(defaults)
    merged.update({k: v for k, v in data_prefix.items()})
    return merged


def _filter_det_data(data_list: List[dict], filter_cfg: Optional[dict],
                     test_mode: bool) -> List[dict]:
    """mmdet's ``filter_empty_gt`` / ``min_size`` filtering of data infos."""
    if test_mode or not filter_cfg:
        return data_list
    filter_empty_gt = filter_cfg.get('filter_empty_gt', False)
    min_size = filter_cfg.get('min_size', 0)
    return [
        d for d in data_list
        if not (filter_empty_gt and not any(not i['ignore_flag'] for i in d['instances']))
        and min(d['width'], d['height']) >= min_size
    ]


@DATASETS.register_module()
class PairedCocoDetDataset(CocoDataset):
    """mmdet ``CocoDataset`` whose images are IR/VIS pairs.

    ``images[*].file_name`` (its stem) names the pair: ``<ir folder>/<stem>.<ext>`` and
    ``<vi folder>/<stem>.<ext>`` (any image extension). Classes default to the json's
    categories in the json's order (``metainfo=dict(classes=...)`` selects a subset, in that
    order, as in mmdet; with ``lazy_init=True`` the json's classes are known only after
    ``full_init()``). Boxes are checked against the image size: a box reaching more than
    ``box_tolerance`` pixels outside raises (naming the json, annotation id and image); boxes
    within the tolerance are clipped. Annotations with zero width/height are dropped as mmdet
    does.

    Args:
        ann_file (str): COCO json, relative to ``data_root``.
        data_prefix (dict): ``ir`` and ``vi`` folder names (default: detected, see
            :data:`KNOWN_LAYOUTS`).
        box_tolerance (float): Pixels a box may reach outside the image. Defaults to 1.
        extensions (Sequence[str]): Image extensions of the pair folders.
        **kwargs: Other mmdet ``CocoDataset`` arguments (``metainfo``, ``pipeline``,
            ``filter_cfg``, ``test_mode`` ...).
    """

    METAINFO: dict = dict()
    DEFAULT_PREFIX: dict = dict(ir=None, vi=None)

    def __init__(self,
                 *args,
                 data_prefix: Optional[dict] = None,
                 box_tolerance: float = 1.0,
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 **kwargs) -> None:
        self._pair_prefix = _split_prefix(data_prefix, ('ir', 'vi'), self.DEFAULT_PREFIX)
        self.box_tolerance = float(box_tolerance)
        self.extensions = tuple(extensions)
        super().__init__(*args, data_prefix=dict(img=''), **kwargs)

    def load_data_list(self) -> List[dict]:
        root = self.data_root or ''
        self._ir_dir, self._vi_dir = resolve_pair_folders(root, self._pair_prefix['ir'],
                                                          self._pair_prefix['vi'])
        self._ir_files = list_images(self._ir_dir, self.extensions)
        self._vi_files = list_images(self._vi_dir, self.extensions)
        if not osp.isfile(self.ann_file):
            raise FileNotFoundError(f'COCO annotation file not found: {self.ann_file}')
        raw = load(self.ann_file)
        cats = raw.get('categories') or []
        if not cats:
            raise ValueError(f'{self.ann_file}: no categories')
        self._known_cat_ids = {c['id'] for c in cats}
        # mmdet maps classes to category ids in the json's category order, so the classes
        # must follow that order (a subset may be chosen)
        names = [c['name'] for c in cats]
        classes = self._metainfo.get('classes')
        if not classes:
            self._metainfo['classes'] = tuple(names)
        else:
            missing = [c for c in classes if c not in names]
            if missing:
                raise ValueError(f'{self.ann_file}: classes {missing} of the dataset metainfo are '
                                 f'not among the json categories {names}')
            in_json_order = [n for n in names if n in classes]
            if list(classes) != in_json_order:
                raise ValueError(f'{self.ann_file}: the dataset classes {list(classes)} must '
                                 f'follow the order of the json categories ({in_json_order})')
        if len(self._metainfo.get('palette') or []) != len(self._metainfo['classes']):
            self._metainfo.pop('palette', None)
        del raw
        try:
            return super().load_data_list()
        finally:
            del self._ir_files, self._vi_files

    def parse_data_info(self, raw_data_info: dict) -> dict:
        img_info = raw_data_info['raw_img_info']
        file_name = img_info['file_name']
        stem = osp.splitext(osp.basename(file_name))[0]
        ir_path, vi_path = self._ir_files.get(stem), self._vi_files.get(stem)
        for path, folder, kind in ((ir_path, self._ir_dir, 'infrared'), (vi_path, self._vi_dir,
                                                                         'visible')):
            if path is None:
                raise FileNotFoundError(f'{self.ann_file}: image {file_name!r} (id '
                                        f'{img_info.get("id")}) has no {kind} file {stem}.* in '
                                        f'{folder}')
        if 'width' not in img_info or 'height' not in img_info:
            raise ValueError(f'{self.ann_file}: image {file_name!r} lacks width/height')
        width, height = int(img_info['width']), int(img_info['height'])
        anns = []
        for ann in raw_data_info['raw_ann_info']:
            where = (f'{self.ann_file}: annotation id {ann.get("id")} of image {file_name!r}')
            if ann.get('category_id') not in self._known_cat_ids:
                raise ValueError(f'{where}: unknown category_id {ann.get("category_id")}')
            x, y, w, h = (float(v) for v in ann['bbox'])
            if ann.get('ignore', False) or w <= 0 or h <= 0:
                anns.append(ann)  # mmdet drops these
                continue
            x1, y1, x2, y2 = check_box([x, y, x + w, y + h], width, height, self.box_tolerance,
                                       where)
            ann = dict(ann, bbox=[x1, y1, x2 - x1, y2 - y1])
            anns.append(ann)
        info = super().parse_data_info(dict(raw_img_info=img_info, raw_ann_info=anns))
        info.update(stem=stem, ir_path=ir_path, vi_path=vi_path, img_path=vi_path)
        return info


@DATASETS.register_module()
class DemoDetDataset(PairedCocoDetDataset):
    """The synthetic demo data (``cldyn_mm.testing.demo_data``): ``annotations/{train,val}.json``,
    pairs in ``ir/`` and ``vi/``; classes person, car, sign."""

    METAINFO = dict(classes=DEMO_DET_CLASSES, palette=list(DEMO_DET_PALETTE))
    DEFAULT_PREFIX = dict(ir='ir', vi='vi')


class _PairedLabelFolderMixin:
    """Pair collection + one label file per stem for the VOC and YOLO datasets."""

    def _collect(
            self, label_exts: Tuple[str, ...],
            label_dir: str) -> Tuple[List[str], Dict[str, str], Dict[str, str], Dict[str, str]]:
        root = self.data_root or ''
        stems, ir_files, vi_files, _, _ = collect_pairs(root, self._pair_prefix['ir'],
                                                        self._pair_prefix['vi'], self.ann_file,
                                                        self.unpaired, self.extensions)
        labels = list_label_files(label_dir, label_exts)
        require_labels(stems, labels, label_dir, label_exts[0])
        return stems, ir_files, vi_files, labels


@DATASETS.register_module()
class PairedVOCDetDataset(_PairedLabelFolderMixin, XMLDataset):
    """IR/VIS pairs with one Pascal-VOC XML per stem (mmdet ``XMLDataset`` semantics).

    Layout: ``<ir>/<stem>.<ext>``, ``<vi>/<stem>.<ext>``, ``<ann>/<stem>.xml``. ``ann_file`` is
    an optional split file (one stem per line); without it every pair is used and every pair
    must have an XML. Box coordinates are taken as written (``minus_one=False``: M3FD's
    labelImg boxes are 0-based pixel corners, the same values as its COCO conversion);
    ``minus_one=True`` subtracts 1 like mmdet's VOC loader. ``difficult`` objects get
    ``ignore_flag=1``. The image size comes from ``<size>`` (or the visible image when absent).

    Errors (naming the XML file): malformed XML, an object without a valid ``bndbox``, an
    unknown class name (``unknown_classes='error'``; ``'skip'`` ignores such objects), a box
    outside the image by more than ``box_tolerance`` pixels (boxes within it are clipped).

    Args:
        data_prefix (dict): ``ir``, ``vi`` (default: detected) and ``ann`` (default
            ``Annotations``, falling back to ``Annotation``).
        minus_one (bool): Subtract 1 from the coordinates. Defaults to False.
        unknown_classes (str): 'error' (default) or 'skip'.
        box_tolerance (float): Pixels a box may reach outside the image. Defaults to 1.
        unpaired (str): 'error' (default) or 'skip' for images without a partner.
        **kwargs: mmdet ``XMLDataset`` / ``BaseDetDataset`` arguments (``metainfo`` with
            ``classes`` is required for this generic class).
    """

    METAINFO: dict = dict()
    DEFAULT_PREFIX: dict = dict(ir=None, vi=None, ann=None)

    def __init__(self,
                 ann_file: str = '',
                 data_prefix: Optional[dict] = None,
                 minus_one: bool = False,
                 unknown_classes: str = 'error',
                 box_tolerance: float = 1.0,
                 unpaired: str = 'error',
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 **kwargs) -> None:
        if unknown_classes not in ('error', 'skip'):
            raise ValueError(f"unknown_classes must be 'error' or 'skip', got "
                             f'{unknown_classes!r}')
        self._pair_prefix = _split_prefix(data_prefix, ('ir', 'vi', 'ann'), self.DEFAULT_PREFIX)
        self.minus_one = minus_one
        self.unknown_classes = unknown_classes
        self.box_tolerance = float(box_tolerance)
        self.unpaired = unpaired
        self.extensions = tuple(extensions)
        super().__init__(
            ann_file=ann_file, img_subdir='', ann_subdir='', data_prefix=dict(), **kwargs)

    def _ann_dir(self) -> str:
        root = self.data_root or ''
        name = self._pair_prefix['ann']
        if name:
            return find_subdir(root, name, 'annotation folder')
        for cand in ('Annotations', 'Annotation', 'annotations'):
            if osp.isdir(osp.join(root, cand)):
                return osp.join(root, cand)
        raise FileNotFoundError(f'no annotation folder (Annotations/ or Annotation/) in '
                                f'{root!r}; set data_prefix=dict(ann=...)')

    def load_data_list(self) -> List[dict]:
        classes = self._metainfo.get('classes')
        if not classes:
            raise ValueError(f'{self.__class__.__name__} needs metainfo=dict(classes=...)')
        self.cat2label = {c: i for i, c in enumerate(classes)}
        stems, ir_files, vi_files, xmls = self._collect(('.xml', ), self._ann_dir())
        return [
            self._parse_xml(i, s, ir_files[s], vi_files[s], xmls[s]) for i, s in enumerate(stems)
        ]

    def _parse_xml(self, index: int, stem: str, ir_path: str, vi_path: str, xml_path: str) -> dict:
        try:
            root = ET.parse(xml_path).getroot()
        except ET.ParseError as e:
            raise ValueError(f'{xml_path}: malformed XML ({e})') from e
        width = height = 0
        size = root.find('size')
        if size is not None:
            try:
                width = int(float(size.findtext('width', '0')))
                height = int(float(size.findtext('height', '0')))
            except ValueError as e:
                raise ValueError(f'{xml_path}: bad <size> ({e})') from e
        if width <= 0 or height <= 0:
            width, height = image_size(vi_path)
        instances = []
        min_size = self.bbox_min_size
        for k, obj in enumerate(root.findall('object')):
            name = (obj.findtext('name') or '').strip()
            where = f'{xml_path}: object {k} ({name!r})'
            if name not in self.cat2label:
                if self.unknown_classes == 'skip':
                    continue
                raise ValueError(f'{where}: unknown class {name!r}; the dataset classes are '
                                 f'{list(self.cat2label)} (unknown_classes=\'skip\' ignores it)')
            box = obj.find('bndbox')
            try:
                coords = [float(box.findtext(t)) for t in ('xmin', 'ymin', 'xmax', 'ymax')]
            except (AttributeError, TypeError, ValueError) as e:
                raise ValueError(f'{where}: missing or non-numeric bndbox '
                                 'xmin/ymin/xmax/ymax') from e
            if self.minus_one:
                coords = [c - 1 for c in coords]
            bbox = check_box(coords, width, height, self.box_tolerance, where)
            difficult = obj.findtext('difficult')
            ignore = bool(difficult and int(float(difficult)))
            if min_size is not None and not self.test_mode and (bbox[2] - bbox[0] < min_size
                                                                or bbox[3] - bbox[1] < min_size):
                ignore = True
            instances.append(
                dict(bbox=bbox, bbox_label=self.cat2label[name], ignore_flag=int(ignore)))
        return dict(
            img_id=index,
            stem=stem,
            img_path=vi_path,
            ir_path=ir_path,
            vi_path=vi_path,
            xml_path=xml_path,
            width=width,
            height=height,
            instances=instances)

    def filter_data(self) -> List[dict]:
        return _filter_det_data(self.data_list, self.filter_cfg, self.test_mode)


@DATASETS.register_module()
class M3FDDataset(PairedVOCDetDataset):
    """M3FD detection: ``ir/`` (or ``Ir/``, ``Infrared/``), ``vi/`` (or ``Vis/``,
    ``Visible/``), ``Annotations/<stem>.xml``; classes People, Car, Bus, Motorcycle, Lamp,
    Truck."""

    METAINFO = dict(classes=M3FD_CLASSES, palette=list(M3FD_PALETTE))


def _read_classes_file(path: str) -> Tuple[str, ...]:
    """``classes.txt``: one class per line, ``name`` or ``<index> name`` (index = line)."""
    names = []
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) >= 2 and parts[0].isdigit():
                if int(parts[0]) != len(names):
                    raise ValueError(f'{path}:{lineno}: class index {parts[0]} out of order '
                                     f'(expected {len(names)})')
                parts = parts[1:]
            names.append(' '.join(parts))
    if not names:
        raise ValueError(f'{path}: no class names')
    return tuple(names)


@DATASETS.register_module()
class PairedYOLODetDataset(_PairedLabelFolderMixin, BaseDetDataset):
    """IR/VIS pairs with one YOLO txt per stem.

    Layout: ``<ir>/<stem>.<ext>``, ``<vi>/<stem>.<ext>``, ``<label>/<stem>.txt`` with one box
    per line, ``class x_center y_center width height``, normalised by the image width/height
    (any whitespace separates fields; an empty file means no object). The image size is read
    from the visible image's header. Classes: the names in ``classes_file`` (``name`` or
    ``<index> name`` per line) give the meaning of the YOLO class indices; the dataset's
    ``metainfo`` classes (if set) select and order them by name (indices of other classes are
    dropped). ``img_id`` is the pair's index (an int, so mmdet's ``CocoMetric`` can evaluate
    without an ``ann_file`` from the ``instances`` that :class:`PackPairedDetInputs` keeps).

    Errors naming the file and line: a pair without a label file, a line that does not have 5
    fields, a non-numeric or non-finite value, a class index outside the classes, a box with
    no area or outside the image by more than ``box_tolerance`` pixels (boxes within it are
    clipped).

    Args:
        ann_file (str): Optional split file (one stem per line) relative to ``data_root``.
        data_prefix (dict): ``ir``, ``vi`` (default: detected) and ``label`` (default
            ``labels``) folders.
        classes_file (str): Class names file relative to ``data_root`` (used when it exists).
            Defaults to 'classes.txt'.
        box_tolerance (float): Pixels a box may reach outside the image. Defaults to 1.
        unpaired (str): 'error' (default) or 'skip' for images without a partner.
        **kwargs: mmdet ``BaseDetDataset`` arguments.
    """

    METAINFO: dict = dict()
    DEFAULT_PREFIX: dict = dict(ir=None, vi=None, label='labels')

    def __init__(self,
                 ann_file: str = '',
                 data_prefix: Optional[dict] = None,
                 classes_file: str = 'classes.txt',
                 box_tolerance: float = 1.0,
                 unpaired: str = 'error',
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 **kwargs) -> None:
        self._pair_prefix = _split_prefix(data_prefix, ('ir', 'vi', 'label'), self.DEFAULT_PREFIX)
        self.classes_file = classes_file
        self.box_tolerance = float(box_tolerance)
        self.unpaired = unpaired
        self.extensions = tuple(extensions)
        super().__init__(ann_file=ann_file, data_prefix=dict(), **kwargs)

    def _label_dir(self) -> str:
        return find_subdir(self.data_root or '', self._pair_prefix['label'] or 'labels',
                           'label folder')

    def _class_index_map(self) -> Dict[int, int]:
        """YOLO class index -> label index in the dataset's classes (absent: dropped)."""
        root = self.data_root or ''
        path = osp.join(root, self.classes_file) if self.classes_file else ''
        file_names = _read_classes_file(path) if path and osp.isfile(path) else None
        classes = self._metainfo.get('classes')
        if not classes:
            if file_names is None:
                raise ValueError(f'{self.__class__.__name__}: no classes: give '
                                 f'metainfo=dict(classes=...) or a classes file ({path!r})')
            classes = self._metainfo['classes'] = file_names
        if file_names is None:
            file_names = tuple(classes)
        missing = [c for c in classes if c not in file_names]
        if missing:
            raise ValueError(f'classes {missing} of the dataset metainfo are not in {path} '
                             f'({list(file_names)})')
        if len(self._metainfo.get('palette') or []) != len(classes):
            self._metainfo.pop('palette', None)
        self._file_classes = file_names
        return {i: classes.index(n) for i, n in enumerate(file_names) if n in classes}

    def load_data_list(self) -> List[dict]:
        index_map = self._class_index_map()
        label_dir = self._label_dir()
        stems, ir_files, vi_files, labels = self._collect(('.txt', ), label_dir)
        data_list = []
        for i, stem in enumerate(stems):
            width, height = image_size(vi_files[stem])
            instances = self._parse_txt(labels[stem], width, height, index_map)
            data_list.append(
                dict(
                    img_id=i,
                    stem=stem,
                    img_path=vi_files[stem],
                    ir_path=ir_files[stem],
                    vi_path=vi_files[stem],
                    label_path=labels[stem],
                    width=width,
                    height=height,
                    instances=instances))
        return data_list

    def _parse_txt(self, path: str, width: int, height: int, index_map: Dict[int,
                                                                             int]) -> List[dict]:
        n = len(self._file_classes)
        instances = []
        with open(path) as f:
            lines = f.read().splitlines()
        for lineno, line in enumerate(lines, 1):
            fields = line.split()
            if not fields:
                continue
            where = f'{path}:{lineno}'
            if len(fields) != 5:
                raise ValueError(f'{where}: expected 5 fields "class x_center y_center width '
                                 f'height", got {len(fields)}: {line.strip()!r}')
            try:
                values = [float(v) for v in fields]
            except ValueError as e:
                raise ValueError(f'{where}: non-numeric value in {line.strip()!r}') from e
            if not all(math.isfinite(v) for v in values):
                raise ValueError(f'{where}: non-finite value in {line.strip()!r}')
            cls, cx, cy, bw, bh = values
            if not cls.is_integer() or not 0 <= cls < n:
                raise ValueError(f'{where}: class index {fields[0]} is not an integer in '
                                 f'0..{n - 1} ({list(self._file_classes)})')
            box = [(cx - bw / 2) * width, (cy - bh / 2) * height, (cx + bw / 2) * width,
                   (cy + bh / 2) * height]
            box = check_box(box, width, height, self.box_tolerance, where)
            if int(cls) not in index_map:
                continue
            instances.append(dict(bbox=box, bbox_label=index_map[int(cls)], ignore_flag=0))
        return instances

    def filter_data(self) -> List[dict]:
        return _filter_det_data(self.data_list, self.filter_cfg, self.test_mode)


@DATASETS.register_module()
class MSRSDetDataset(PairedYOLODetDataset):
    """MSRS detection (``Lele-3/MSRS-detection-label``): ``ir/``, ``vi/``, ``classes.txt``,
    YOLO labels in ``labels_yolo/<label_set>/`` (``fusion``, ``ir`` or ``vi``: boxes annotated
    on fused, infrared or visible images) or directly in ``labels_yolo/``.

    Args:
        label_set (str, optional): Sub-folder of the label folder. Defaults to ``'fusion'``
            when ``labels_yolo/fusion`` exists (the most complete set), else none.
        **kwargs: :class:`PairedYOLODetDataset` arguments.
    """

    METAINFO = dict(classes=MSRS_DET_CLASSES, palette=list(MSRS_DET_PALETTE))
    DEFAULT_PREFIX = dict(ir='ir', vi='vi', label='labels_yolo')

    def __init__(self, *args, label_set: Optional[str] = None, **kwargs) -> None:
        self.label_set = label_set
        super().__init__(*args, **kwargs)

    def _label_dir(self) -> str:
        base = super()._label_dir()
        if self.label_set:
            return find_subdir(base, self.label_set, 'label set folder')
        if osp.isdir(osp.join(base, 'fusion')):
            return osp.join(base, 'fusion')
        return base
