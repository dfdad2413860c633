"""How many CPU threads a process that runs a model uses.

torch's default is one thread per core in every process. Two ranks on a 2-core machine, or one run beside
another CPU job, then oversubscribe the cores and generation gets many times slower (20-90x was measured on a
shared 2-core machine), so each process takes a share instead: `--threads N` if given, else $OMP_NUM_THREADS if
set, else the cores this process may use divided by the ranks on this node.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    omp = (env.get("OMP_NUM_THREADS") or "").strip()
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    local_world = int(env.get("LOCAL_WORLD_SIZE") or env.get("WORLD_SIZE") or 1)
    return max(1, usable_cores() // max(1, local_world))


def apply_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads (and the OpenMP / MKL variables, for libraries started later); returns the
    number used. Call it before the first model loads."""
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be >= 1, got {threads}")
    n = threads or default_threads()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    import torch

    torch.set_num_threads(n)
    return n
