"""Side-by-side benchmarks: greenthreads against OS threads, gevent, eventlet and asyncio.

``python -m benchmarks.compare`` writes ``benchmarks/results/``; ``pytest
benchmarks/ --benchmark-only`` runs the same cases under pytest-benchmark.
"""
