"""Run a Python script with ``cldyn_mm`` imported first:

    python -m cldyn_mm SCRIPT.py [script arguments...]

For tools of other packages that read a config before importing anything of cldyn_mm, e.g.
mmdet's own ``tools/train.py`` (``<mmdet>/.mim/tools/train.py``) on a config whose ``_base_``
names ``cldyn_mm::`` files: MMEngine resolves that prefix only once cldyn_mm is imported
(cldyn_mm/mim.py). The script runs as ``__main__`` with ``sys.argv`` = ``[SCRIPT.py, args...]``
and its folder first on ``sys.path``, as ``python SCRIPT.py args...`` would. MMEngine's own
checkpoints load safely under torch >= 2.6 as with this repository's tools
(``allow_mmengine_checkpoints``: ``load_from`` / ``--resume`` work).
"""
import os.path as osp
import runpy
import sys

import cldyn_mm  # noqa: F401  (registers the cldyn_mm:: config prefix)
from cldyn_mm.utils.checkpoint import allow_mmengine_checkpoints


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(__doc__.strip())
        sys.exit(0 if argv else 2)
    script = argv[0]
    if not osp.isfile(script):
        sys.exit(f'python -m cldyn_mm: no such script: {script}')
    allow_mmengine_checkpoints()
    sys.argv = argv
    sys.path.insert(0, osp.dirname(osp.abspath(script)))
    runpy.run_path(script, run_name='__main__')


if __name__ == '__main__':
    main()
