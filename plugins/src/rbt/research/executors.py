"""Execution backends for many trials: in-process, a local process pool, Dask distributed.

Every executor maps a top-level function ``fn(task, shared)`` over tasks and yields
``(index, result)`` as results arrive. ``shared`` (e.g. in-memory bars) crosses to each
worker once, never per task. A worker process that dies mid-trial gets the trials it
was running resubmitted (``max_retries`` times) — no trial is lost or counted twice,
since results are keyed by task index and each index yields once.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["DaskExecutor", "InProcessExecutor", "PoolExecutor", "make_executor"]

WORKER_DIED = "worker process died while running this trial"


class InProcessExecutor:
    """Run trials one after another in this process."""

    name = "local"
    workers = 1

    def map(
        self, fn: Callable[..., Any], tasks: Sequence[Any], shared: Any = None
    ) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, fn(task, shared)

    def close(self) -> None:
        pass


class PoolExecutor:
    """A ``ProcessPoolExecutor`` (spawn) with all cores by default, kept across batches."""

    name = "pool"

    def __init__(self, workers: int | None = None, max_retries: int = 2) -> None:
        self.workers = workers or os.cpu_count() or 1
        self.max_retries = max_retries
        self._pool: Any = None
        self._shared_id: int | None = None
        self.restarts = 0

    def _ensure(self, shared: Any) -> Any:
        import concurrent.futures as cf
        import multiprocessing

        from rbt.research.worker import init_worker

        if self._pool is not None and self._shared_id != id(shared):
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._pool is None:
            self._pool = cf.ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=init_worker,
                initargs=(shared,),
            )
            self._shared_id = id(shared)
        return self._pool

    def map(
        self, fn: Callable[..., Any], tasks: Sequence[Any], shared: Any = None
    ) -> Iterator[tuple[int, Any]]:
        import concurrent.futures as cf
        from concurrent.futures.process import BrokenProcessPool

        pending = set(range(len(tasks)))
        attempts = dict.fromkeys(pending, 0)
        while pending:
            pool = self._ensure(shared)
            futures = {}
            for i in sorted(pending):
                attempts[i] += 1
                futures[pool.submit(fn, tasks[i])] = i
            broken = False
            for fut in cf.as_completed(futures):
                i = futures[fut]
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                pending.discard(i)
                yield i, result
            if broken:  # a worker died: a fresh pool, the unfinished trials again
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
                self.restarts += 1
                for i in sorted(pending):
                    if attempts[i] > self.max_retries:
                        pending.discard(i)
                        yield (
                            i,
                            {
                                "status": "failed",
                                "error": WORKER_DIED,
                                "metrics": {},
                                "run_id": None,
                                "duration": 0.0,
                                "trial_id": tasks[i].get("trial_id"),
                            },
                        )

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


class DaskExecutor:
    """Trials as Dask tasks on a ``distributed`` cluster (an address, a client, or a new
    ``LocalCluster`` of processes). Shared objects are scattered once (broadcast)."""

    name = "dask"

    def __init__(
        self,
        address: str | None = None,
        *,
        client: Any = None,
        workers: int | None = None,
        max_retries: int = 2,
    ) -> None:
        from dask.distributed import Client, LocalCluster

        self._cluster = None
        if client is not None:
            self.client = client
            self._own_client = False
        else:
            if address is None:
                self._cluster = LocalCluster(
                    n_workers=workers or os.cpu_count() or 1,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",
                )
                address = self._cluster.scheduler_address
            self.client = Client(address)
            self._own_client = True
        self.workers = len(self.client.scheduler_info().get("workers", {})) or (workers or 1)
        self.max_retries = max_retries
        self._batch = 0
        self._scattered: tuple[Any, Any] | None = None

    def map(
        self, fn: Callable[..., Any], tasks: Sequence[Any], shared: Any = None
    ) -> Iterator[tuple[int, Any]]:
        from dask.distributed import as_completed

        self._batch += 1
        if shared is None:
            shared_ref = None
        elif self._scattered is not None and self._scattered[0] is shared:
            shared_ref = self._scattered[1]
        else:  # once per sweep: every worker keeps a copy in its memory
            shared_ref = self.client.scatter(shared, broadcast=True)
            self._scattered = (shared, shared_ref)
        attempts = dict.fromkeys(range(len(tasks)), 0)

        def submit(i: int) -> Any:
            attempts[i] += 1
            key = f"rbt-trial-{tasks[i].get('trial_id', i)}-{self._batch}-{attempts[i]}"
            return self.client.submit(fn, tasks[i], shared_ref, key=key, pure=False, retries=0)

        futures = {submit(i): i for i in range(len(tasks))}
        queue = as_completed(list(futures))
        for fut in queue:
            i = futures.pop(fut)
            try:
                result = fut.result()
            except Exception as exc:  # KilledWorker & co: the worker died, not the strategy
                if attempts[i] <= self.max_retries:
                    new = submit(i)
                    futures[new] = i
                    queue.add(new)
                    continue
                result = {
                    "status": "failed",
                    "error": f"{WORKER_DIED}: {exc!r}",
                    "metrics": {},
                    "run_id": None,
                    "duration": 0.0,
                    "trial_id": tasks[i].get("trial_id"),
                }
            yield i, result

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_executor(
    executor: Any = "local", *, workers: int | None = None, address: str | None = None
) -> Any:
    """An executor object from a provider name (``local``, ``pool``, ``dask``) or as is."""
    if not isinstance(executor, str):
        return executor
    from rbt.kernel.registry import ProviderKind
    from rbt.plugins import plugin_manager

    provider = plugin_manager().get_provider(ProviderKind.EXECUTOR, executor)
    kwargs: dict[str, Any] = {}
    if executor != "local":
        kwargs["workers"] = workers
    if executor == "dask" and address:
        kwargs["address"] = address
    return provider.create(**kwargs)
