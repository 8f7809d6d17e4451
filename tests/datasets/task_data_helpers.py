"""Tiny synthetic task-dataset layouts (FMB, VT5000/VT821, M3FD, MSRS, YOLO) for the tests.

Each pair is a dark background with bright rectangles ("objects") that are bright in BOTH the
infrared and the visible image, at exactly the pixels of their box / mask, so that alignment
after geometric transforms can be checked from the pixels alone. Visible objects are coloured
(B, G, R differ) and the infrared intensity differs from the visible one.
"""
import os
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

# (x1, y1, x2, y2, class index) in pixels, for an image of width W=64 and height H=48
OBJECTS: Tuple[Tuple[int, int, int, int, int], ...] = ((6, 8, 22, 30, 0), (34, 20, 58, 40, 1))
W, H = 64, 48
VIS_COLOURS = ((60, 200, 230), (230, 90, 150))  # BGR per object
IR_LEVELS = (250, 170)


def render_pair(objects=OBJECTS, size=(W, H)) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ir (H, W) uint8, vis (H, W, 3) uint8 BGR, class map (H, W) uint8; 0 = background,
    k + 1 = object of class k)."""
    w, h = size
    ir = np.full((h, w), 10, np.uint8)
    vis = np.full((h, w, 3), 12, np.uint8)
    seg = np.zeros((h, w), np.uint8)
    for i, (x1, y1, x2, y2, cls) in enumerate(objects):
        ir[y1:y2, x1:x2] = IR_LEVELS[i % 2]
        vis[y1:y2, x1:x2] = VIS_COLOURS[i % 2]
        seg[y1:y2, x1:x2] = cls + 1
    return ir, vis, seg


def write(path: Path, img: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img), path
    return str(path)


def make_yolo_layout(root: Path,
                     stems: Sequence[str] = ('a', 'b'),
                     classes: Sequence[str] = ('person', 'bicycle', 'car'),
                     label_dir: str = 'labels_yolo/fusion',
                     objects=OBJECTS) -> Path:
    """MSRS-detection style: ir/, vi/, classes.txt ('<index> <name>'), <label_dir>/<stem>.txt."""
    ir, vis, _ = render_pair(objects)
    for stem in stems:
        write(root / 'ir' / f'{stem}.png', ir)
        write(root / 'vi' / f'{stem}.png', vis)
        lines = []
        for x1, y1, x2, y2, cls in objects:
            cx, cy = (x1 + x2) / 2 / W, (y1 + y2) / 2 / H
            lines.append(f'{cls}  {cx} {cy}  {(x2 - x1) / W} {(y2 - y1) / H}  ')
        (root / label_dir).mkdir(parents=True, exist_ok=True)
        (root / label_dir / f'{stem}.txt').write_text('\n'.join(lines) + '\n')
    (root / 'classes.txt').write_text(''.join(f'{i} {c}\n' for i, c in enumerate(classes)))
    return root


VOC_OBJECT = ('<object><name>{name}</name><difficult>{difficult}</difficult><bndbox>'
              '<xmin>{x1}</xmin><ymin>{y1}</ymin><xmax>{x2}</xmax><ymax>{y2}</ymax>'
              '</bndbox></object>')


def voc_xml(objects: List[dict], size=(W, H)) -> str:
    body = ''.join(VOC_OBJECT.format(**dict(dict(difficult=0), **o)) for o in objects)
    return (f'<annotation><size><width>{size[0]}</width><height>{size[1]}</height>'
            f'<depth>3</depth></size>{body}</annotation>')


def make_m3fd_layout(root: Path, ir_dir='Ir', vi_dir='Vis', ann_dir='Annotation') -> Path:
    """M3FD release style folders (Ir/, Vis/, Annotation/) with one pair 'p0'."""
    ir, vis, _ = render_pair()
    write(root / ir_dir / 'p0.png', ir)
    write(root / vi_dir / 'p0.png', vis)
    names = ('People', 'Car')
    objs = [dict(name=names[c], x1=x1, y1=y1, x2=x2, y2=y2) for x1, y1, x2, y2, c in OBJECTS]
    objs.append(dict(name='Lamp', x1=40, y1=2, x2=44, y2=8, difficult=1))
    (root / ann_dir).mkdir(parents=True, exist_ok=True)
    (root / ann_dir / 'p0.xml').write_text(voc_xml(objs))
    return root


def make_seg_layout(root: Path,
                    ir_dir: str,
                    vi_dir: str,
                    seg_dir: str,
                    stems: Sequence[str] = ('s0', 's1'),
                    vi_ext='.png',
                    label_fn=None) -> Dict[str, np.ndarray]:
    """Pairs + class-id label maps (``label_fn(seg)`` may change them). Returns stem -> label."""
    ir, vis, seg = render_pair()
    labels = {}
    for stem in stems:
        write(root / ir_dir / f'{stem}.png', ir)
        write(root / vi_dir / f'{stem}{vi_ext}', vis)
        label = label_fn(seg) if label_fn else seg
        write(root / seg_dir / f'{stem}.png', label)
        labels[stem] = label
    return labels


def make_fmb_layout(root: Path) -> Path:
    for split in ('train', 'test'):
        make_seg_layout(
            root / split,
            'Infrared',
            'Visible',
            'Label',
            label_fn=lambda s: np.where(s > 0, s + 7, 0).astype(np.uint8))
        # the colour renderings next to Label/ must be ignored
        write(root / split / 'color' / 's0.png', np.zeros((H, W, 3), np.uint8))
    return root


def saliency_mask(seg: np.ndarray) -> np.ndarray:
    """0/255 mask with anti-aliased borders (values 100 and 200 on the object edges)."""
    m = np.where(seg > 0, 255, 0).astype(np.uint8)
    edge = cv2.dilate(m, np.ones((3, 3), np.uint8)) != cv2.erode(m, np.ones((3, 3), np.uint8))
    m[edge & (m == 255)] = 200
    m[edge & (m == 0)] = 100
    return m


def make_vt_layout(root: Path, split_dirs=('Train', 'Test'), t_dirs=('T', 'T_GRAY')) -> Path:
    """VT5000 style (``split_dirs``) or VT821/VT1000 style (``split_dirs=('',)``)."""
    for split in split_dirs:
        base = root / split if split else root
        ir, vis, seg = render_pair()
        for stem in ('v0', 'v1'):
            write(base / 'RGB' / f'{stem}.jpg', vis)
            for t in t_dirs:
                write(base / t / f'{stem}.jpg', np.repeat(ir[..., None], 3, axis=2))
            write(base / 'GT' / f'{stem}.png', saliency_mask(seg))
    return root


def listdir(p) -> List[str]:
    return sorted(os.listdir(p))
