#!/usr/bin/env python
"""Markdown results of a msrs_det work dir (tools/experiments/msrs_det.sh, stage report).

    python tools/experiments/msrs_det_report.py WORK_DIR [--samples 1000] > WORK_DIR/results.md

Reads ``WORK/eval/<mode>/metrics.json`` (CocoMetric of each mode, with the evaluated root, list
and image count), ``WORK/eval/<mode>/coco.{gt,bbox}.json`` (for the bootstrap intervals over
the evaluation images), ``WORK/fusion/metrics/summary.csv`` (tools/analysis_tools/eval_fusion.py),
``WORK/logs/times.txt`` (training wall times), ``WORK/splits/summary.txt`` (the training
split) or ``WORK/weights_source`` (--weights zoo), and ``WORK/cldyn_selected`` /
``WORK/select/ranking.tsv`` (the closed-loop seed); missing parts are reported as missing.
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys

import numpy as np

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: eval mode -> (input, detector), in table order
MODES = [
    ('vis', 'VIS only', 'RTMDet-tiny trained on VIS'),
    ('ir', 'IR only', 'RTMDet-tiny trained on IR'),
    ('frozen_vis', 'VIS only', 'the VFN detector (frozen)'),
    ('frozen_ir', 'IR only', 'the VFN detector (frozen)'),
    ('vfn', 'VFN fusion', 'RTMDet-tiny trained on VFN fusion'),
    ('cldyn', 'CLDyN fusion', 'the VFN detector (frozen) + RSC'),
    ('vfn_more', 'VFN fusion', 'the VFN detector trained further (control a)'),
    ('seafusion', 'SeAFusion fusion', 'RTMDet-tiny trained on SeAFusion (control b)'),
]
#: paired differences reported (a - b) when both were evaluated on the same images
DIFFERENCES = [('cldyn', 'vfn'), ('vfn_more', 'vfn'), ('cldyn', 'vfn_more'), ('cldyn', 'seafusion'),
               ('cldyn', 'ir'), ('vfn', 'ir'), ('cldyn', 'frozen_ir'), ('vfn', 'frozen_ir')]


def fmt(v, scale=100.0):
    """Percent with one decimal; '—' for a missing or undefined value (pycocotools' -1: no
    ground truth of that kind; NaN: no defined bootstrap draw)."""
    return '—' if v is None or not v >= 0 else f'{v * scale:.1f}'


def load_json(path):
    with open(path) as f:
        return json.load(f)


def eval_modes(work):
    """Evaluated modes in table order: known ones first, then per-seed and other ones."""
    root = osp.join(work, 'eval')
    found = sorted(d for d in os.listdir(root)
                   if osp.isfile(osp.join(root, d, 'metrics.json'))) if osp.isdir(root) else []
    known = [m for m, _, _ in MODES if m in found]
    return known + [m for m in found if m not in known]


#: --weights zoo: every row but seafusion is the shipped CLDyN model's frozen detector
ZOO_DETECTORS = dict(
    vis='the shipped CLDyN model\'s detector (trained on VFN fusion, frozen)',
    ir='the shipped CLDyN model\'s detector (trained on VFN fusion, frozen)',
    vfn='the shipped CLDyN model\'s detector (trained on VFN fusion, frozen)',
    cldyn='the shipped CLDyN model (its frozen detector + RSC)',
    seafusion='the shipped SeAFusion detector (control b)')


def describe(mode, zoo=False):
    if zoo and mode in ZOO_DETECTORS:
        return dict((m, inp) for m, inp, _ in MODES)[mode], ZOO_DETECTORS[mode]
    for m, inp, det in MODES:
        if m == mode:
            return inp, det
    if mode.startswith('cldyn_seed'):
        return 'CLDyN fusion', f'the VFN detector (frozen) + RSC of seed {mode[10:]}'
    return mode, '?'


def bootstrap(work, modes, samples, seed):
    """Joint bootstrap of the modes that have COCO json files, grouped by image set."""
    from cldyn_mm.evaluation.functional.coco_bootstrap import CocoImageEvaluation, bootstrap_map
    evs = {}
    for mode in modes:
        d = osp.join(work, 'eval', mode)
        gt, dt = osp.join(d, 'coco.gt.json'), osp.join(d, 'coco.bbox.json')
        if osp.isfile(gt) and osp.isfile(dt):
            evs[mode] = CocoImageEvaluation.from_files(gt, dt)
        elif osp.isfile(gt):  # no detection at all: CocoMetric writes no results file
            evs[mode] = CocoImageEvaluation(load_json(gt), [])
    groups = {}
    for mode, ev in evs.items():
        groups.setdefault(tuple(ev.img_ids), {})[mode] = ev
    return [bootstrap_map(g, num_samples=samples, seed=seed) for g in groups.values()]


def find(boots, *modes):
    for b in boots:
        if all(m in b.full for m in modes):
            return b
    return None


def header(work, modes):
    lines = [f'# msrs_det results ({osp.abspath(work)})', '']
    evaluated = {}
    for mode in modes:
        r = load_json(osp.join(work, 'eval', mode, 'metrics.json'))
        key = (r.get('data_root') or '?', r.get('ann_file') or '(all pairs)', r.get('num_images'))
        evaluated.setdefault(key, []).append(mode)
    for (root, ann, num), group in evaluated.items():
        n = f'{num} pairs' if num is not None else 'pair count not recorded'
        which = '' if len(evaluated) == 1 else f' (modes {", ".join(group)})'
        lines.append(f'Evaluated on `{root}`, list `{ann}`: {n}{which}.')
    source = osp.join(work, 'weights_source')
    split = osp.join(work, 'splits', 'summary.txt')
    if osp.isfile(source):
        lines += [
            '', f'Networks: the {open(source).read().strip()}; docs/model_zoo.md says '
            'what they were trained on. Nothing was trained in this work dir.'
        ]
    elif osp.isfile(split):
        lines += [
            '', 'Training split (the networks were trained on these pairs):', '', '```',
            open(split).read().strip(), '```'
        ]
    return lines + ['']


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('work', nargs='?', default='work_dirs/msrs_det')
    p.add_argument('--samples', type=int, default=1000, help='bootstrap samples')
    p.add_argument('--seed', type=int, default=0, help='seed of the bootstrap draws')
    args = p.parse_args(argv)
    work = args.work
    modes = eval_modes(work)
    lines = header(work, modes)
    boots = bootstrap(work, modes, args.samples, args.seed) if modes else []

    lines += [
        '| detector input | detector | mAP@[.5:.95] (95 % CI) | mAP@.5 (95 % CI) | mAP@.75 '
        '| mAP_s | mAP_m | mAP_l | eval s |', '|---|---|---|---|---|---|---|---|---|'
    ]
    zoo = osp.isfile(osp.join(work, 'weights_source'))
    for mode in modes:
        inp, det = describe(mode, zoo)
        m = load_json(osp.join(work, 'eval', mode, 'metrics.json'))
        mt = m['metrics']
        b = find(boots, mode)
        cells = []
        for key, metric in (('coco/bbox_mAP', 'mAP'), ('coco/bbox_mAP_50', 'mAP_50')):
            v = fmt(mt.get(key))
            if b is not None:
                lo, hi = b.interval(mode, metric)
                v += f' ({fmt(lo)}–{fmt(hi)})'
            cells.append(v)
        cells += [fmt(mt.get(f'coco/bbox_{k}')) for k in ('mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')]
        lines.append(f'| {inp} | {det} | ' + ' | '.join(cells) + f' | {m.get("seconds", "")} |')
    if not modes:
        lines.append('| (no evaluation yet) | | | | | | | | |')
    lines += [
        '', 'mAP in percent (mmdet CocoMetric, bbox). Intervals: percentile bootstrap over '
        f'the evaluation images ({args.samples} draws, seed {args.seed}, '
        'cldyn_mm.evaluation.functional.coco_bootstrap).', ''
    ]

    diff_rows = []
    for a, b_ in DIFFERENCES:
        b = find(boots, a, b_)
        if b is None:
            continue
        cells = []
        for metric in ('mAP', 'mAP_50'):
            lo, hi = b.difference_interval(a, b_, metric)
            diff = b.difference(a, b_, metric)
            defined = min(b.full[a][metric], b.full[b_][metric]) >= 0
            if not (defined and np.isfinite(lo) and np.isfinite(hi)):
                cells.append('— (no ground truth)')
                continue
            verdict = 'above 0' if lo > 0 else 'below 0' if hi < 0 else 'contains 0'
            cells.append(f'{diff * 100:+.1f} ({lo * 100:+.1f} to {hi * 100:+.1f}; {verdict})')
        diff_rows.append(f'| {a} − {b_} | ' + ' | '.join(cells) + ' |')
    if diff_rows:
        lines += [
            'Paired differences on the same images (same bootstrap draws for both):', '',
            '| difference | mAP@[.5:.95] (95 % CI) | mAP@.5 (95 % CI) |', '|---|---|---|'
        ]
        lines += diff_rows + ['']

    seeds = [m for m in modes if m.startswith('cldyn_seed')]
    if seeds:
        vals = [
            load_json(osp.join(work, 'eval', m, 'metrics.json'))['metrics'].get('coco/bbox_mAP')
            for m in seeds
        ]
        vals = [v for v in vals if v is not None]
        if vals:
            lines += [
                'Closed-loop seeds on the evaluation images: mAP@[.5:.95] ' +
                ', '.join(f'{m[10:]}: {fmt(v)}' for m, v in zip(seeds, vals)) +
                f' (range {fmt(min(vals))}–{fmt(max(vals))}).'
            ]
    selected = osp.join(work, 'cldyn_selected')
    if osp.isfile(selected):
        seed, _, train_map = open(selected).read().strip().split('\t')
        how = ('the only seed' if train_map == '-' else
               f'median on the training split, train mAP {fmt(float(train_map))}')
        lines += [f'Selected closed-loop seed (row CLDyN fusion): {seed} ({how}).', '']

    fusion = osp.join(work, 'fusion', 'metrics', 'summary.csv')
    if osp.isfile(fusion):
        rows = list(csv.reader(open(fusion)))
        lines += [
            'Fusion metrics (tools/analysis_tools/eval_fusion.py, mean over the evaluation '
            'pairs):', '', '| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])
        ]
        for row in rows[1:]:
            cells = [row[0]] + [f'{float(v):.4g}' if v not in ('', 'nan') else v for v in row[1:]]
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
    times = osp.join(work, 'logs', 'times.txt')
    if osp.isfile(times):
        lines += [
            'Training wall time (s): ' +
            ', '.join(f'{n} {s}'
                      for n, s in (line.split() for line in open(times) if line.strip())), ''
        ]
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
