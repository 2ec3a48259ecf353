"""Profile one benchmark case on greenthreads: ``python -m benchmarks.profile_case CASE [N]``.

Patches everything (as the greenthreads worker does: the echo case needs
cooperative sockets), starts the hub first and only then enables cProfile, so
the profiler (not yet active when the hub was made) stays on across green
thread switches and every green thread's calls are counted.
"""

import cProfile
import pstats
import sys

import greenthreads
import greenthreads.monkey

greenthreads.monkey.patch_all()

from . import cases            # noqa: E402  (after patching, like the workers)
from .worker import setup      # noqa: E402


def main():
    case = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else cases.size(case, 'greenthreads') // 2
    api = setup('threading')   # already patched: the threading-shaped api is green
    greenthreads.sleep(0)      # the hub exists before the profiler starts
    profiler = cProfile.Profile()
    profiler.enable()
    getattr(cases, case)(api, n)
    profiler.disable()
    pstats.Stats(profiler).sort_stats('tottime').print_stats(18)


if __name__ == '__main__':
    main()
