"""How the command-line tools end: a user's mistake is one line on stderr and exit code 1.

    if __name__ == '__main__':
        sys.exit(run_cli(main, prog='fuse.py', interrupted='rerun to resume'))

``main(argv)`` does the work and raises on bad input (missing file, unknown model name,
checkpoint that does not fit, ...); ``run_cli`` turns the exception into
``PROG: error: MESSAGE (--debug shows the traceback)`` and ``--debug`` on the command line
re-raises it instead. The message is folded onto one line and cut at ``max_chars`` (e.g. the
key lists of a checkpoint that does not fit).
"""
import sys
from typing import Callable, Optional, Sequence, Tuple, Type


def one_line(exc: BaseException, max_chars: int = 400) -> str:
    """``exc``'s message on one line (whitespace folded), at most ``max_chars`` characters."""
    msg = ' '.join(str(exc).split()) or type(exc).__name__
    return msg if len(msg) <= max_chars else msg[:max_chars] + ' ...'


def run_cli(main: Callable[[Sequence[str]], Optional[int]],
            argv: Optional[Sequence[str]] = None,
            prog: str = '',
            interrupted: str = '',
            errors: Tuple[Type[BaseException], ...] = (Exception, ),
            max_chars: int = 400) -> int:
    """Run ``main(argv)`` and return the process exit code.

    Args:
        main: the tool's ``main``; raises on errors; an int it returns is the exit code
            (anything else: 0).
        argv: the arguments (``sys.argv[1:]`` when None).
        prog: the tool's name at the start of every message, e.g. ``'fuse.py'``.
        interrupted: a hint after ``PROG: interrupted`` on Ctrl-C (exit code 130).
        errors: the exception types reported as one line (exit code 1); others propagate.
        max_chars: the longest message printed.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        code = main(argv)
    except KeyboardInterrupt:
        print(
            f'{prog}: interrupted' + (f' ({interrupted})' if interrupted else ''), file=sys.stderr)
        return 130
    except errors as e:
        if '--debug' in argv:
            raise
        print(
            f'{prog}: error: {one_line(e, max_chars)} (--debug shows the traceback)',
            file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0
