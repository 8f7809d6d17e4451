#!/usr/bin/env python
"""Check (and, for another data root, derive) the train / val stem lists of the msrs_det
experiment, and write the lists that the run uses to ``--out``.

* every listed stem must have ``ir/<stem>.*``, ``vi/<stem>.*`` and a label file in
  ``labels_yolo/<label_set>/`` below the data root;
* train and val must not share a stem;
* without ``--train`` the training list is every pair of the root that is not in ``--val``;
* for MSRS-style stems (``00123D`` / ``00456N``: 5-digit frame id + D/N) it reports day / night
  counts, the classes' box counts and the smallest frame-id distance between train and val
  (neighbouring MSRS frames are near duplicates, so the split is made of whole id blocks).
"""
import argparse
import collections
import os
import os.path as osp
import re
import sys

IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff')
MSRS_STEM = re.compile(r'^(\d{5})([DN])$')


def read_list(path):
    with open(path) as f:
        stems = [osp.splitext(line.strip())[0] for line in f if line.strip()]
    if not stems:
        raise SystemExit(f'{path}: empty list')
    dup = [s for s, n in collections.Counter(stems).items() if n > 1]
    if dup:
        raise SystemExit(f'{path}: repeated stems {dup[:10]}')
    return stems


def images(folder):
    if not osp.isdir(folder):
        raise SystemExit(f'folder not found: {folder}')
    return {
        osp.splitext(f)[0]
        for f in os.listdir(folder) if osp.splitext(f)[1].lower() in IMAGE_EXTS
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--data-root', required=True)
    p.add_argument('--train', help='training stem list (default: all pairs not in --val)')
    p.add_argument('--val', required=True, help='validation / test stem list')
    p.add_argument('--label-set', default='fusion')
    p.add_argument('--out', required=True, help='folder for train.txt / val.txt / summary.txt')
    p.add_argument(
        '--eval-only',
        action='store_true',
        help='check only --val (a test root that is not trained on)')
    args = p.parse_args(argv)

    root = args.data_root
    ir, vi = images(osp.join(root, 'ir')), images(osp.join(root, 'vi'))
    label_dir = osp.join(root, 'labels_yolo', args.label_set)
    if not osp.isdir(label_dir):
        label_dir = osp.join(root, 'labels_yolo')
    labels = {osp.splitext(f)[0] for f in os.listdir(label_dir) if f.endswith('.txt')}
    pairs = ir & vi

    val = read_list(args.val)
    lists = dict(val=val)
    if not args.eval_only:
        train = read_list(args.train) if args.train else sorted(pairs - set(val))
        lists['train'] = train
        shared = sorted(set(train) & set(val))
        if shared:
            raise SystemExit(f'train and val share {len(shared)} stem(s): {shared[:10]}')
    for name, stems in lists.items():
        missing = [s for s in stems if s not in pairs or s not in labels]
        if missing:
            raise SystemExit(f'{name}: {len(missing)} stem(s) without an ir/vi pair or a label '
                             f'file in {root}: {missing[:10]}')

    os.makedirs(args.out, exist_ok=True)
    lines = [f'data root: {osp.abspath(root)} ({len(pairs)} pairs), labels: {label_dir}']
    for name, stems in lists.items():
        with open(osp.join(args.out, f'{name}.txt'), 'w') as f:
            f.write('\n'.join(stems) + '\n')
        boxes = collections.Counter()
        for s in stems:
            with open(osp.join(label_dir, s + '.txt')) as f:
                for line in f:
                    if line.split():
                        boxes[int(float(line.split()[0]))] += 1
        day = sum(1 for s in stems if s.endswith('D'))
        night = sum(1 for s in stems if s.endswith('N'))
        lines.append(f'{name}: {len(stems)} pairs ({day} day, {night} night), boxes per class '
                     f'index {dict(sorted(boxes.items()))}')
    if 'train' in lists and all(MSRS_STEM.match(s) for s in lists['train'] + val):
        ids_t = [int(s[:5]) for s in lists['train']]
        gap = min(abs(a - b) for a in ids_t for b in (int(s[:5]) for s in val))
        lines.append(f'smallest frame-id distance between train and val: {gap}')
    text = '\n'.join(lines)
    with open(osp.join(args.out, 'summary.txt'), 'w') as f:
        f.write(text + '\n')
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
