#!/usr/bin/env python
"""Write the synthetic IR/VIS demo dataset (detection, segmentation and saliency labels).

    # data/demo, 96 train + 32 val, 320x256
    python tools/dataset_converters/make_demo_data.py
    python tools/dataset_converters/make_demo_data.py --out /tmp/demo --num-train 8 --num-val 4 \
        --size 160 128
    # also draw a contact sheet
    python tools/dataset_converters/make_demo_data.py --preview /tmp/demo_sheet.png

Rerunning with the same parameters finds the complete dataset and writes nothing. A folder made
by an older run with other parameters is regenerated. A non-empty folder that is not a demo
dataset is refused unless --overwrite is given. See docs/demo_data.md.
"""
import argparse
import os
import os.path as osp
import sys
import time

from cldyn_mm.testing.demo_data import generate_demo_dataset, render_contact_sheet


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', default='data/demo', help='output root (default: data/demo)')
    p.add_argument('--num-train', type=int, default=96, help='training pairs (default: 96)')
    p.add_argument('--num-val', type=int, default=32, help='validation pairs (default: 32)')
    p.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(320, 256),
        metavar=('W', 'H'),
        help='image width and height, each >= 64 (default: 320 256)')
    p.add_argument('--seed', type=int, default=0, help='seed (default: 0)')
    p.add_argument(
        '--overwrite',
        action='store_true',
        help='allow writing into a non-empty folder that is not a demo dataset '
        '(only the generator\'s own file names are replaced)')
    p.add_argument(
        '--preview',
        metavar='PNG',
        default=None,
        help='also write a contact sheet (IR | VIS | seg | saliency, boxes) of '
        '3 day and 3 night training images to this PNG')
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.perf_counter()
    try:
        meta = generate_demo_dataset(
            args.out,
            num_train=args.num_train,
            num_val=args.num_val,
            size=tuple(args.size),
            seed=args.seed,
            overwrite=args.overwrite)
    except (FileExistsError, ValueError) as e:
        print(f'make_demo_data: error: {e}', file=sys.stderr)
        return 2
    took = time.perf_counter() - t0
    root = osp.abspath(args.out)
    w, h = meta['size']
    if meta.get('reused'):
        print(f'demo data already complete at {root} (seed {meta["seed"]}, {w}x{h}, '
              f'{meta["num_train"]} train + {meta["num_val"]} val); nothing written '
              f'[{took:.2f} s]')
    else:
        print(f'wrote demo data to {root} in {took:.2f} s (seed {meta["seed"]}, {w}x{h})')
        for split in ('train', 'val'):
            c = meta['counts'][split]
            boxes = ', '.join(f'{n} {k}' for k, n in c['boxes'].items())
            print(f'  {split}: {c["images"]} pairs ({c["day"]} day, {c["night"]} night); '
                  f'boxes: {boxes}')
        print('  ir/ vi/ Segmentation_labels/ saliency/ <stem>.png, annotations/{train,val}.json '
              '(COCO), splits/{train,val}.txt, meta.json')
        print(f'  det classes: {", ".join(meta["det_classes"])}; seg classes: '
              f'{", ".join(f"{i} {c}" for i, c in enumerate(meta["seg_classes"]))}')
    if args.preview:
        with open(osp.join(args.out, 'splits', 'train.txt')) as f:
            stems = f.read().split()
        pick = [s for s in stems if s.endswith('D')][:3] + [s for s in stems if s.endswith('N')][:3]
        os.makedirs(osp.dirname(osp.abspath(args.preview)), exist_ok=True)
        render_contact_sheet(args.out, pick, args.preview)
        print(f'  contact sheet: {osp.abspath(args.preview)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
