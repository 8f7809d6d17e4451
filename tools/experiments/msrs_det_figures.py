#!/usr/bin/env python
"""Example figures of a msrs_det work dir: per pair one row
``GT | IR (IR detector) | VIS (VIS detector) | VFN (VFN detector) | CLDyN (frozen VFN detector)``.

    python tools/experiments/msrs_det_figures.py WORK_DIR --stems 00187D 00906N \
        --data-root ../shared/data/det/MSRS --out docs/experiments/msrs_det_examples.jpg

The tiles are cut from the eval stage's panels (``WORK/eval/<mode>/panels/<stem>.png``, drawn
by TaskVisualizationHook: IR | VIS | VFN | CLDyN, 4-pixel gaps, boxes above its score
threshold), each from the run of the detector that sees that image; GT draws the
``labels_yolo/fusion`` boxes on the visible image. Missing modes are left out.
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np

TILES = [('ir', 0, 'IR / IR det'), ('vis', 1, 'VIS / VIS det'), ('vfn', 2, 'VFN / VFN det'),
         ('cldyn', 3, 'CLDyN / VFN det')]
CLASSES = ('person', 'bicycle', 'car')
COLOURS = ((60, 20, 220), (0, 165, 255), (230, 130, 30))  # BGR


def label(img, text):
    cv2.rectangle(img, (0, img.shape[0] - 22), (8 + 9 * len(text), img.shape[0]), (0, 0, 0), -1)
    cv2.putText(img, text, (4, img.shape[0] - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                cv2.LINE_AA)
    return img


def gt_tile(root, stem, label_set):
    img = cv2.imread(osp.join(root, 'vi', stem + '.png'), cv2.IMREAD_COLOR)
    h, w = img.shape[:2]
    with open(osp.join(root, 'labels_yolo', label_set, stem + '.txt')) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            c, cx, cy, bw, bh = int(float(p[0])), *map(float, p[1:])
            x1, y1 = int((cx - bw / 2) * w), int((cy - bh / 2) * h)
            x2, y2 = int((cx + bw / 2) * w), int((cy + bh / 2) * h)
            cv2.rectangle(img, (x1, y1), (x2, y2), COLOURS[c], 2)
            cv2.putText(img, CLASSES[c], (x1, max(y1 - 3, 10)), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                        COLOURS[c], 1, cv2.LINE_AA)
    return img


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('work_dir')
    p.add_argument('--stems', nargs='+', required=True)
    p.add_argument('--data-root', default='../shared/data/det/MSRS')
    p.add_argument('--label-set', default='fusion')
    p.add_argument('--out', required=True)
    p.add_argument('--tile-width', type=int, default=320)
    p.add_argument('--gap', type=int, default=4, help='gap between the panel tiles')
    args = p.parse_args(argv)

    rows = []
    for stem in args.stems:
        gt = gt_tile(args.data_root, stem, args.label_set)
        h, w = gt.shape[:2]
        tiles = [('GT (fusion labels)', gt)]
        for mode, k, name in TILES:
            path = osp.join(args.work_dir, 'eval', mode, 'panels', stem + '.png')
            if not osp.isfile(path):
                continue
            panel = cv2.imread(path, cv2.IMREAD_COLOR)
            x0 = k * (w + args.gap)
            if panel.shape[1] < x0 + w:
                continue
            tiles.append((name, panel[:h, x0:x0 + w]))
        th = round(h * args.tile_width / w)
        row = []
        for name, img in tiles:
            img = cv2.resize(img, (args.tile_width, th), interpolation=cv2.INTER_AREA)
            row += [label(img.copy(), f'{stem} {name}'), np.full((th, 4, 3), 255, np.uint8)]
        rows += [np.concatenate(row[:-1], axis=1)]
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    out_dir = os.path.dirname(os.path.abspath(args.out))
    os.makedirs(out_dir, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 88] if args.out.lower().endswith(('.jpg', '.jpeg')) \
        else []
    if not cv2.imwrite(args.out, np.concatenate(rows, axis=0)[:-4], params):
        raise SystemExit(f'msrs_det_figures: could not write {args.out} (folder {out_dir}; '
                         'the extension picks the format: .png or .jpg)')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
