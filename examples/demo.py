"""Start 100,000 threads with the ordinary threading API, on one OS thread.

Each thread sleeps half a second, then records which OS thread it ran on.
With OS threads this would need 100,000 kernel threads; here it takes one.

    python examples/demo.py [N]
"""

import sys
import time

import greenthreads as threading


def main(n):
    native_ids = set()
    done = []

    def worker(i):
        threading.sleep(0.5)          # parks this green thread only
        native_ids.add(threading.get_native_id())
        done.append(i)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, name=f"w{i}", args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    started = time.perf_counter()
    print(f"started {n:,} threads in {started - t0:.2f} s; "
          f"{threading.active_count():,} alive")
    for t in threads:
        t.join()                      # blocks until that thread is done
    elapsed = time.perf_counter() - t0
    print(f"all {len(done):,} threads slept 0.5 s and finished in {elapsed:.2f} s")
    print(f"OS threads used: {len(native_ids)} (native id {sorted(native_ids)})")
    assert len(done) == n and len(native_ids) == 1


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
