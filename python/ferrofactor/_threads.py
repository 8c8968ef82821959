"""The number of threads of ferrofactor's kernels (a checked wrapper of the Rust pool setting)."""

from __future__ import annotations

import os
from typing import Any

from ferrofactor import _core
from ferrofactor._validate import check_int

__all__ = ["MAX_THREADS", "get_num_threads", "set_num_threads"]

#: Most threads :func:`set_num_threads` accepts: beyond a few per core nothing is gained, and a
#: request for millions of threads would hang creating them.
MAX_THREADS = max(64, 4 * (os.cpu_count() or 1))


def set_num_threads(n: Any) -> None:
    """Run ferrofactor's kernels on ``n`` threads from now on (``0`` = rayon's default, which
    follows ``RAYON_NUM_THREADS`` or the number of cores). Results never depend on it.

    Parameters
    ----------
    n : int
        ``0 <= n <= MAX_THREADS`` (``max(64, 4 × cores)``). A bool, a float, a negative or a
        huge value raises ``ValueError``/``TypeError`` naming ``n``.

    Examples
    --------
    >>> import ferrofactor as ff
    >>> ff.set_num_threads(2); ff.get_num_threads()
    2
    >>> ff.set_num_threads(0)
    """
    n = check_int("n", n, 0, MAX_THREADS)
    try:
        _core.set_num_threads(n)
    except RuntimeError as e:  # the operating system refused to start the threads
        raise OSError(f"could not start {n} threads: {e}") from None


def get_num_threads() -> int:
    """The number of threads ferrofactor's kernels run on now."""
    return _core.get_num_threads()
