"""Validation metrics against iterations of a training work dir, as a markdown table.

    python tools/analysis_tools/val_curve.py WORK_DIR [--prefix fusion/] [--ref NAME=FILE]

Reads every ``WORK_DIR/<timestamp>/vis_data/scalars.json`` (one per start or resume of the
run; MMEngine's LocalVisBackend), keeps the records with validation metrics (keys starting
with ``--prefix``), the latest record per iteration when a resumed run repeated one, and
prints one row per validated iteration. ``--ref NAME=CSV`` adds a reference row from a
``tools/analysis_tools/eval_fusion.py`` summary.csv (its row NAME), e.g. a published method on
the same pairs.
"""
import argparse
import csv
import glob
import json
import os.path as osp
import sys


def read_curve(work_dir: str, prefix: str):
    rows = {}
    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir}')
    for path in files:  # timestamp order: a later run's record of the same step wins
        last_train = None
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                rec = json.loads(line)
                metrics = {k[len(prefix):]: v for k, v in rec.items() if k.startswith(prefix)}
                if not metrics:
                    if 'lr' in rec and 'step' in rec:  # a training record
                        last_train = int(rec['step'])
                    continue
                step = int(rec.get('step', 0))
                # LoggerHook(log_metric_by_epoch=True), MMEngine's default, logs validation
                # at the epoch (0 in iteration-based training): take the last training step
                if last_train is not None and step < last_train:
                    step = last_train
                rows[step] = metrics
    return dict(sorted(rows.items()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('work_dir')
    p.add_argument('--prefix', default='fusion/', help='metric key prefix (default fusion/)')
    p.add_argument(
        '--ref',
        action='append',
        default=[],
        metavar='NAME=CSV',
        help='reference row NAME of a tools/analysis_tools/eval_fusion.py summary.csv')
    args = p.parse_args(argv)
    try:
        curve = read_curve(args.work_dir, args.prefix)
    except (FileNotFoundError, ValueError) as e:
        print(f'val_curve.py: error: {e}', file=sys.stderr)
        return 1
    if not curve:
        print(
            f'val_curve.py: error: no metric with prefix {args.prefix!r} in {args.work_dir}',
            file=sys.stderr)
        return 1
    names = list(next(iter(curve.values())))
    print('| iteration | ' + ' | '.join(names) + ' |')
    print('|---|' + '---|' * len(names))
    for step, m in curve.items():
        print(f'| {step} | ' + ' | '.join(f'{m[n]:.4g}' if n in m else '' for n in names) + ' |')
    for ref in args.ref:
        name, _, path = ref.partition('=')
        with open(path) as f:
            rows = {r[next(iter(r))]: r for r in csv.DictReader(f)}
        if name not in rows:
            print(f'val_curve.py: error: no row {name!r} in {path}', file=sys.stderr)
            return 1
        print(f'| {name} | ' + ' | '.join(f'{float(rows[name][n]):.4g}' if rows[name].get(n) else ''
                                          for n in names) + ' |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
