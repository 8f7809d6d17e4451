"""Paired infrared/visible semantic-segmentation and salient-object datasets (mmseg based).

Every data info is an mmseg data info (``img_path``, ``seg_map_path``, ``label_map``,
``reduce_zero_label``, ``seg_fields``) plus ``stem``, ``ir_path``, ``vi_path`` and
``num_classes``; ``img_path`` is the visible file. Pipelines load the pair with
``LoadIRVisPair``, the label with ``LoadPairedSegAnnotations`` (mmseg's loader with checks) and
pack with ``PackPairedSegInputs``, so mmseg's geometric transforms (``RandomResize``,
``mmseg.RandomCrop``, ``RandomFlip`` ...) move IR, VIS and the label together and mmseg's
``IoUMetric`` works unchanged.

* :class:`PairedSegDataset`: generic (``metainfo`` gives the classes);
  :class:`MSRSSegDataset` (``ir``, ``vi``, ``Segmentation_labels``; 9 classes),
  :class:`FMBSegDataset` (``train|test/{Infrared,Visible,Label}``; 15 classes),
  :class:`DemoSegDataset` (the synthetic demo data; 6 classes).
* :class:`PairedSODDataset`: binary salient-object masks (0/255 -> 0/1, classes background,
  salient): :class:`VTSODDataset` (VT5000 / VT1000 / VT821: ``RGB``, ``T`` or ``T_GRAY``,
  ``GT``; VT5000 with ``Train|Test``), :class:`DemoSODDataset` (``saliency/``).
"""
from typing import List, Optional, Sequence, Tuple

from mmseg.datasets import BaseSegDataset

from cldyn_mm.registry import DATASETS
from .demo_metainfo import DEMO_SEG_CLASSES, DEMO_SEG_PALETTE
from .paired_image_dataset import IMAGE_EXTENSIONS
from .task_utils import collect_pairs, find_subdir, list_label_files, require_labels

# MSRS / MFNet (Ha et al. 2017) classes and the MFNet colour palette (RGB)
MSRS_SEG_CLASSES = ('unlabelled', 'car', 'person', 'bike', 'curve', 'car_stop', 'guardrail',
                    'color_cone', 'bump')
MSRS_SEG_PALETTE = ((0, 0, 0), (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 192), (128, 128, 0),
                    (64, 64, 128), (192, 128, 128), (192, 64, 0))
# FMB (Liu et al., SegMiF, ICCV 2023): label ids 0..14 as in the public FMB loaders; 'Lamp'
# and 'Sign' are the traffic lamp / traffic sign. Palette: Cityscapes colours of the
# corresponding classes (ours, for display only).
FMB_CLASSES = ('background', 'Road', 'Sidewalk', 'Building', 'Lamp', 'Sign', 'Vegetation', 'Sky',
               'Person', 'Car', 'Truck', 'Bus', 'Motorcycle', 'Bicycle', 'Pole')
FMB_PALETTE = ((0, 0, 0), (128, 64, 128), (244, 35, 232), (70, 70, 70), (250, 170, 30),
               (220, 220, 0), (107, 142, 35), (70, 130, 180), (220, 20, 60), (0, 0, 142),
               (0, 0, 70), (0, 60, 100), (0, 0, 230), (119, 11, 32), (153, 153, 153))
SOD_CLASSES = ('background', 'salient')
SOD_PALETTE = ((0, 0, 0), (255, 255, 255))


@DATASETS.register_module()
class PairedSegDataset(BaseSegDataset):
    """mmseg ``BaseSegDataset`` whose images are IR/VIS pairs with a label map per stem.

    Layout (below ``data_root``, or ``data_root/<split>`` when ``split`` is set; the split
    folder is matched case-insensitively): ``<ir>/<stem>.<ext>``, ``<vi>/<stem>.<ext>``,
    ``<seg>/<stem>.<ext>`` (any image extension; labels are single-channel class ids).
    ``ann_file`` is an optional split file (one stem per line, relative to ``data_root``).
    Pairs are matched by stem; a pair without a label file raises, naming the expected file.
    Classes, ``reduce_zero_label``, ``label_map`` (class subsets) and ``ignore_index`` behave as
    in mmseg.

    Args:
        data_prefix (dict): ``ir``, ``vi`` (default: detected, see :data:`KNOWN_LAYOUTS`) and
            ``seg`` (the label folder) names.
        split (str): Sub-folder holding the three folders (``'train'``, ``'Test'``...).
        unpaired (str): 'error' (default) or 'skip' for images without a partner.
        extensions (Sequence[str]): Accepted image / label extensions.
        **kwargs: mmseg ``BaseSegDataset`` arguments (``metainfo``, ``pipeline``,
            ``reduce_zero_label``, ``ignore_index``, ``test_mode`` ...).
    """

    METAINFO: dict = dict()
    DEFAULT_PREFIX: dict = dict(ir=None, vi=None, seg='Segmentation_labels')
    IR_CANDIDATES: Tuple[str, ...] = ()
    BINARY = False

    def __init__(self,
                 ann_file: str = '',
                 data_root: Optional[str] = None,
                 data_prefix: Optional[dict] = None,
                 split: str = '',
                 unpaired: str = 'error',
                 extensions: Sequence[str] = IMAGE_EXTENSIONS,
                 **kwargs) -> None:
        data_prefix = dict(data_prefix or {})
        unknown = set(data_prefix) - {'ir', 'vi', 'seg'}
        if unknown:
            raise KeyError(f'data_prefix accepts the keys ir, vi and seg, got {sorted(unknown)}')
        self._pair_prefix = dict(self.DEFAULT_PREFIX)
        self._pair_prefix.update(data_prefix)
        self.split = split
        self.unpaired = unpaired
        self.extensions = tuple(extensions)
        kwargs.pop('img_suffix', None)
        kwargs.pop('seg_map_suffix', None)
        super().__init__(
            ann_file=ann_file,
            data_root=data_root,
            data_prefix=dict(img_path='', seg_map_path=''),
            img_suffix='',
            seg_map_suffix='',
            **kwargs)

    def _root(self) -> str:
        root = self.data_root or ''
        return find_subdir(root, self.split, 'split folder') if self.split else root

    def _ir_name(self, root: str) -> Optional[str]:
        ir = self._pair_prefix['ir']
        if ir or not self.IR_CANDIDATES:
            return ir
        for cand in self.IR_CANDIDATES:
            try:
                return find_subdir(root, cand)
            except FileNotFoundError:
                continue
        return None

    def load_data_list(self) -> List[dict]:
        classes = self._metainfo.get('classes')
        if not classes:
            raise ValueError(f'{self.__class__.__name__} needs metainfo=dict(classes=...)')
        root = self._root()
        stems, ir_files, vi_files, _, _ = collect_pairs(root, self._ir_name(root),
                                                        self._pair_prefix['vi'], self.ann_file,
                                                        self.unpaired, self.extensions)
        seg_dir = find_subdir(root, self._pair_prefix['seg'], 'label folder')
        labels = list_label_files(seg_dir, self.extensions)
        require_labels(stems, labels, seg_dir, '.png')
        data_list = []
        for stem in stems:
            info = dict(
                stem=stem,
                img_path=vi_files[stem],
                ir_path=ir_files[stem],
                vi_path=vi_files[stem],
                seg_map_path=labels[stem],
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[],
                num_classes=len(classes))
            if self.BINARY:
                info['seg_binary'] = True
            data_list.append(info)
        return data_list


@DATASETS.register_module()
class MSRSSegDataset(PairedSegDataset):
    """MSRS segmentation: ``ir/``, ``vi/``, ``Segmentation_labels/`` (class ids 0..8, the
    MFNet classes unlabelled, car, person, bike, curve, car_stop, guardrail, color_cone,
    bump). Use ``split='train'`` / ``'test'`` for the released ``train/`` and ``test/``."""

    METAINFO = dict(classes=MSRS_SEG_CLASSES, palette=[list(c) for c in MSRS_SEG_PALETTE])
    DEFAULT_PREFIX = dict(ir='ir', vi='vi', seg='Segmentation_labels')


@DATASETS.register_module()
class FMBSegDataset(PairedSegDataset):
    """FMB: ``<split>/Infrared``, ``<split>/Visible``, ``<split>/Label`` (class ids 0..14; the
    colour renderings in ``color/`` are not read). ``split`` defaults to ``'train'``."""

    METAINFO = dict(classes=FMB_CLASSES, palette=[list(c) for c in FMB_PALETTE])
    DEFAULT_PREFIX = dict(ir='Infrared', vi='Visible', seg='Label')

    def __init__(self, *args, split: str = 'train', **kwargs) -> None:
        super().__init__(*args, split=split, **kwargs)


@DATASETS.register_module()
class DemoSegDataset(PairedSegDataset):
    """The synthetic demo data: ``ir/``, ``vi/``, ``Segmentation_labels/`` (6 classes,
    ``docs/demo_data.md``), split files ``splits/{train,val}.txt``."""

    METAINFO = dict(classes=DEMO_SEG_CLASSES, palette=[list(c) for c in DEMO_SEG_PALETTE])
    DEFAULT_PREFIX = dict(ir='ir', vi='vi', seg='Segmentation_labels')


@DATASETS.register_module()
class PairedSODDataset(PairedSegDataset):
    """Binary salient-object masks as a 2-class mmseg dataset (background 0, salient 1).

    Masks are binarised on loading by ``LoadPairedSegAnnotations`` (``seg_binary`` in the
    data info): 0/255 maps (and anti-aliased ones) become ``value > 127``; masks already in
    {0, 1} are kept. Default folders: ``T`` (IR), ``RGB`` (VIS), ``GT`` (masks).
    """

    METAINFO = dict(classes=SOD_CLASSES, palette=[list(c) for c in SOD_PALETTE])
    DEFAULT_PREFIX = dict(ir=None, vi='RGB', seg='GT')
    IR_CANDIDATES = ('T', 'T_GRAY')
    BINARY = True


@DATASETS.register_module()
class VTSODDataset(PairedSODDataset):
    """VT5000 / VT1000 / VT821 RGB-T salient object detection.

    ``RGB/``, ``T/`` (or ``T_GRAY/`` when ``T/`` is absent; ``data_prefix=dict(ir='T_GRAY')``
    picks it explicitly) and ``GT/``; VT5000 keeps them in ``Train/`` and ``Test/``
    (``split='Train'``), VT1000 / VT821 directly in the root (``split=''``).
    """


@DATASETS.register_module()
class DemoSODDataset(PairedSODDataset):
    """The synthetic demo data's saliency masks: ``ir/``, ``vi/``, ``saliency/`` (0/255)."""

    DEFAULT_PREFIX = dict(ir='ir', vi='vi', seg='saliency')
    IR_CANDIDATES = ()
