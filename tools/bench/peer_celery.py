"""Run in the peers' venv: Celery with a Redis broker and result backend, fan-out of no-op tasks.

``python peer_celery.py REDIS_URL TASKS PROCESSES ROUNDS`` starts one Celery worker
(prefork, ``PROCESSES`` children), then for each round sends a group of ``TASKS``
no-op tasks and waits for every result; prints a JSON list of tasks/s per round.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from celery import Celery, group

app = Celery(
    "bench", broker=os.environ.get("BENCH_REDIS", ""), backend=os.environ.get("BENCH_REDIS", "")
)


@app.task(name="bench.noop")  # type: ignore[untyped-decorator]
def noop() -> None:
    """Nothing: only the dispatch and the result are measured."""


def main(url: str, tasks: int, processes: int, rounds: int) -> list[float]:
    env = {**os.environ, "BENCH_REDIS": url}
    here = os.path.dirname(os.path.abspath(__file__))
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "peer_celery",
            "worker",
            "--pool=prefork",
            f"--concurrency={processes}",
            "--loglevel=WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=here,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if time.monotonic() > deadline:
                raise SystemExit("the celery worker did not start")
        group(noop.s() for _ in range(20)).apply_async().get(timeout=60)
        rates = []
        for _ in range(rounds):
            start = time.perf_counter()
            group(noop.s() for _ in range(tasks)).apply_async().get(timeout=600)
            rates.append(tasks / (time.perf_counter() - start))
        return rates
    finally:
        worker.terminate()
        worker.wait(30)


if __name__ == "__main__":
    os.environ["BENCH_REDIS"] = sys.argv[1]
    app.conf.broker_url = app.conf.result_backend = sys.argv[1]
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))
