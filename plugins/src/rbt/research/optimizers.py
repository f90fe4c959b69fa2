"""Searches over a :class:`~rbt.research.space.Space`, asked and told in synchronous batches.

Each search is deterministic given its seed and the scores it is told (in ask order),
so a sweep gives the same trials on every executor and replays exactly on resume.
``ask()`` returns the next batch of parameter dicts (empty when done); ``tell(params,
scores)`` gives their scores (higher is better; ``None`` for failed or infeasible).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from rbt.research.space import Categorical, Float, Int, Space

__all__ = ["BayesSearch", "GeneticSearch", "GridSearch", "RandomSearch"]

Constraint = Callable[[dict[str, Any]], bool]


def _ok(params: dict[str, Any], constraints: Sequence[Constraint]) -> bool:
    return all(c(params) for c in constraints)


class GridSearch:
    """Every combination, in order; ``trials`` caps how many (feasible) are run."""

    name = "grid"

    def __init__(
        self,
        space: Space,
        *,
        trials: int | None = None,
        batch_size: int = 64,
        seed: int = 0,
        constraints: Sequence[Constraint] = (),
        grid_points: int = 5,
    ):
        points = [p for p in space.grid(grid_points) if _ok(p, constraints)]
        self._points = points[:trials] if trials else points
        self.batch_size = batch_size
        self._next = 0

    def ask(self) -> list[dict[str, Any]]:
        batch = self._points[self._next : self._next + self.batch_size]
        self._next += len(batch)
        return batch

    def tell(self, params: Sequence[dict[str, Any]], scores: Sequence[float | None]) -> None:
        pass


class RandomSearch:
    """Seeded independent samples (log-uniform where the space says ``log``)."""

    name = "random"

    def __init__(
        self,
        space: Space,
        *,
        trials: int | None = None,
        batch_size: int = 64,
        seed: int = 0,
        constraints: Sequence[Constraint] = (),
        **_: Any,
    ):
        self.space = space
        self.trials = trials or 100
        self.batch_size = batch_size
        self.constraints = constraints
        self.rng = np.random.default_rng(seed)
        self._asked = 0

    def _feasible(self) -> dict[str, Any]:
        for _ in range(1000):
            p = self.space.sample(self.rng)
            if _ok(p, self.constraints):
                return p
        from rbt.kernel.errors import ConfigError

        raise ConfigError("no feasible parameters found in 1000 samples: check the constraints")

    def ask(self) -> list[dict[str, Any]]:
        n = min(self.batch_size, self.trials - self._asked)
        self._asked += max(0, n)
        return [self._feasible() for _ in range(max(0, n))]

    def tell(self, params: Sequence[dict[str, Any]], scores: Sequence[float | None]) -> None:
        pass


class BayesSearch:
    """Optuna's TPE sampler (seeded), asked ``batch_size`` trials at a time."""

    name = "bayes"

    def __init__(
        self,
        space: Space,
        *,
        trials: int | None = None,
        batch_size: int = 8,
        seed: int = 0,
        constraints: Sequence[Constraint] = (),
        **_: Any,
    ):
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.space = space
        self.trials = trials or 50
        self.batch_size = batch_size
        self.constraints = constraints
        self.study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, self.trials)),
        )
        self.dists = {n: self._dist(p) for n, p in space.params.items()}
        self._asked = 0
        self._open: list[Any] = []

    @staticmethod
    def _dist(p: Any) -> Any:
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if isinstance(p, Int):
            return IntDistribution(p.low, p.high, log=p.log, step=1 if p.log else p.step)
        if isinstance(p, Float):
            return FloatDistribution(p.low, p.high, log=p.log)
        assert isinstance(p, Categorical)
        return CategoricalDistribution(list(p.choices))

    def ask(self) -> list[dict[str, Any]]:
        n = min(self.batch_size, self.trials - self._asked)
        batch = []
        self._open = []
        from optuna.trial import TrialState

        for _ in range(max(0, n)):
            for _attempt in range(1000):  # infeasible proposals are failed at once, never run
                trial = self.study.ask(self.dists)
                if _ok(trial.params, self.constraints):
                    break
                self.study.tell(trial, state=TrialState.FAIL)
            self._open.append(trial)
            batch.append(dict(trial.params))
        self._asked += len(batch)
        return batch

    def tell(self, params: Sequence[dict[str, Any]], scores: Sequence[float | None]) -> None:
        from optuna.trial import TrialState

        for trial, p, s in zip(self._open, params, scores, strict=True):
            if s is None or not math.isfinite(s) or not _ok(p, self.constraints):
                self.study.tell(trial, state=TrialState.FAIL)
            else:
                self.study.tell(trial, s)
        self._open = []

    def feasible(self, params: dict[str, Any]) -> bool:
        return _ok(params, self.constraints)


class GeneticSearch:
    """A small seeded genetic algorithm over the unit cube of the space.

    Population ``batch_size``; each generation: elitism (the best 2), tournament
    selection (size 3), uniform crossover, Gaussian mutation (σ 0.15 per gene, rate
    ``mutation``); categoricals mutate to a random choice.
    """

    name = "genetic"

    def __init__(
        self,
        space: Space,
        *,
        trials: int | None = None,
        batch_size: int = 16,
        seed: int = 0,
        constraints: Sequence[Constraint] = (),
        mutation: float = 0.3,
        **_: Any,
    ):
        self.space = space
        self.names = list(space.params)
        self.trials = trials or 100
        self.pop_size = max(4, batch_size)
        self.constraints = constraints
        self.mutation = mutation
        self.rng = np.random.default_rng(seed)
        self._asked = 0
        self._population: list[tuple[dict[str, Any], float]] = []

    def _sample(self) -> dict[str, Any]:
        for _ in range(1000):
            p = self.space.sample(self.rng)
            if _ok(p, self.constraints):
                return p
        return self.space.sample(self.rng)

    def _child(self) -> dict[str, Any]:
        pop = self._population

        def pick() -> dict[str, Any]:
            idx = self.rng.integers(0, len(pop), size=min(3, len(pop)))
            return max((pop[int(i)] for i in idx), key=lambda x: x[1])[0]

        for _ in range(100):
            a, b = pick(), pick()
            child = {}
            for n in self.names:
                param = self.space.params[n]
                gene = a[n] if self.rng.random() < 0.5 else b[n]
                if self.rng.random() < self.mutation:
                    if isinstance(param, Categorical):
                        gene = param.sample(self.rng)
                    else:
                        u = param.to_unit(gene) + self.rng.normal(0.0, 0.15)
                        gene = param.from_unit(u)
                child[n] = gene
            if _ok(child, self.constraints):
                return child
        return self._sample()

    def ask(self) -> list[dict[str, Any]]:
        n = min(self.pop_size, self.trials - self._asked)
        if n <= 0:
            return []
        if not self._population:
            batch = [self._sample() for _ in range(n)]
        else:
            ranked = sorted(self._population, key=lambda x: -x[1])
            elite = [p for p, _ in ranked[:2]]
            batch = (elite + [self._child() for _ in range(n)])[:n] if self._asked else []
        self._asked += n
        return batch

    def tell(self, params: Sequence[dict[str, Any]], scores: Sequence[float | None]) -> None:
        scored = [
            (p, s if s is not None and math.isfinite(s) else -math.inf)
            for p, s in zip(params, scores, strict=True)
        ]
        merged = self._population + scored
        merged.sort(key=lambda x: -x[1])  # stable: ties keep their order
        self._population = merged[: self.pop_size]


def make_optimizer(search: Any, space: Space, **kwargs: Any) -> Any:
    """An optimizer from a provider name (``grid``, ``random``, ``bayes``, ``genetic``)."""
    if not isinstance(search, str):
        return search
    from rbt.kernel.registry import ProviderKind
    from rbt.plugins import plugin_manager

    provider = plugin_manager().get_provider(ProviderKind.OPTIMIZER, search)
    return provider.create(space, **kwargs)
