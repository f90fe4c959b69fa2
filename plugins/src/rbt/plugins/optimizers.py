"""Built-in OPTIMIZER providers: parameter searches (:mod:`rbt.research.optimizers`)."""

from __future__ import annotations

from collections.abc import Iterator

from rbt.kernel import hookimpl
from rbt.kernel.registry import Provider, ProviderKind


@hookimpl
def rbt_register_optimizers() -> Iterator[Provider]:
    kind = ProviderKind.OPTIMIZER
    yield Provider(
        kind=kind,
        name="grid",
        factory="rbt.research.optimizers:GridSearch",
        summary="every combination of the space (in order)",
    )
    yield Provider(
        kind=kind,
        name="random",
        factory="rbt.research.optimizers:RandomSearch",
        summary="seeded uniform / log-uniform sampling",
    )
    yield Provider(
        kind=kind,
        name="bayes",
        factory="rbt.research.optimizers:BayesSearch",
        summary="optuna TPE, seeded, in synchronous batches",
    )
    yield Provider(
        kind=kind,
        name="genetic",
        factory="rbt.research.optimizers:GeneticSearch",
        summary="seeded genetic algorithm: tournament, crossover, mutation",
    )
