"""Built-in EXECUTOR providers: where the trials of a sweep run (:mod:`rbt.research`)."""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind


@hookimpl
def rbt_register_executors() -> Iterator[Provider]:
    kind = ProviderKind.EXECUTOR
    yield Provider(
        kind=kind,
        name="local",
        factory="rbt.research.executors:InProcessExecutor",
        summary="trials one after another in this process",
    )
    yield Provider(
        kind=kind,
        name="pool",
        factory="rbt.research.executors:PoolExecutor",
        summary="local process pool, all cores (spawn), retries killed workers",
    )
    yield Provider(
        kind=kind,
        name="dask",
        factory="rbt.research.executors:DaskExecutor",
        summary="Dask distributed: a scheduler address or a new LocalCluster",
    )
