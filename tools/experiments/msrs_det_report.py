#!/usr/bin/env python
"""Markdown results of a msrs_det work dir (tools/experiments/msrs_det.sh, stage report).

    python tools/experiments/msrs_det_report.py WORK_DIR > WORK_DIR/results.md

Reads ``WORK/eval/<mode>/metrics.json`` (CocoMetric of each mode), ``WORK/fusion/metrics/
summary.csv`` (tools/eval_fusion.py), ``WORK/logs/times.txt`` (training wall times) and
``WORK/splits/summary.txt``; missing parts are reported as missing.
"""
import csv
import json
import os.path as osp
import sys

MODES = [('vis', 'VIS only', 'det_vis'), ('ir', 'IR only', 'det_ir'),
         ('vfn', 'VFN fusion', 'det_vfn'), ('cldyn', 'CLDyN fusion', 'det_vfn (frozen)')]


def fmt(v, scale=100.0):
    return '—' if v is None else f'{v * scale:.1f}'


def main(work):
    lines = [f'# msrs_det results ({osp.abspath(work)})', '']
    split = osp.join(work, 'splits', 'summary.txt')
    if osp.isfile(split):
        lines += ['```', open(split).read().strip(), '```', '']
    lines += ['| detector input | detector | mAP@[.5:.95] | mAP@.5 | mAP@.75 | mAP_s | mAP_m | '
              'mAP_l | eval s |', '|---|---|---|---|---|---|---|---|---|']
    for mode, name, det in MODES:
        path = osp.join(work, 'eval', mode, 'metrics.json')
        if not osp.isfile(path):
            lines.append(f'| {name} | {det} | not run | | | | | | |')
            continue
        r = json.load(open(path))
        m = r['metrics']
        lines.append(f'| {name} | {det} | ' + ' | '.join(
            fmt(m.get(f'coco/bbox_{k}')) for k in ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m',
                                                    'mAP_l')) + f' | {r.get("seconds", "")} |')
    lines += ['', 'mAP values in percent (CocoMetric, bbox).', '']
    fusion = osp.join(work, 'fusion', 'metrics', 'summary.csv')
    if osp.isfile(fusion):
        rows = list(csv.reader(open(fusion)))
        lines += ['Fusion metrics (tools/eval_fusion.py, mean over the evaluation pairs):', '',
                  '| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])]
        for row in rows[1:]:
            cells = [row[0]] + [f'{float(v):.4g}' if v not in ('', 'nan') else v for v in row[1:]]
            lines.append('| ' + ' | '.join(cells) + ' |')
        lines.append('')
    times = osp.join(work, 'logs', 'times.txt')
    if osp.isfile(times):
        lines += ['Training wall time (s): ' + ', '.join(
            f'{n} {s}' for n, s in (line.split() for line in open(times) if line.strip())), '']
    print('\n'.join(lines))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else 'work_dirs/msrs_det')
