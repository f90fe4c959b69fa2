"""The searches on their own (ask/tell), on a known function: seeded, within bounds,
constraints respected, and the model-based ones beat their own random start."""

from __future__ import annotations

import pytest

from rbt.research import parse_space
from rbt.research.optimizers import BayesSearch, GeneticSearch, GridSearch, RandomSearch

SPACE = parse_space(["x=int:0:100", "y=float:0.01:10:log", "kind=cat:a,b"])


def score(p):
    return -((p["x"] - 70) ** 2) / 100 - (p["y"] - 3) ** 2 + (1 if p["kind"] == "b" else 0)


def run(cls, seed, trials=64, batch=8, constraints=()):
    opt = cls(SPACE, trials=trials, batch_size=batch, seed=seed, constraints=list(constraints))
    asked = []
    while batch_ := opt.ask():
        opt.tell(batch_, [score(p) for p in batch_])
        asked.extend(batch_)
    return asked


@pytest.mark.parametrize("cls", [RandomSearch, BayesSearch, GeneticSearch])
def test_seeded_bounded_and_constrained(cls):
    a = run(cls, 1, constraints=[lambda p: p["x"] >= 20])
    assert a == run(cls, 1, constraints=[lambda p: p["x"] >= 20])
    assert a != run(cls, 2, constraints=[lambda p: p["x"] >= 20])
    assert len(a) == 64
    for p in a:
        assert 20 <= p["x"] <= 100
        assert isinstance(p["x"], int)
        assert 0.01 <= p["y"] <= 10
        assert p["kind"] in ("a", "b")


@pytest.mark.parametrize("cls", [BayesSearch, GeneticSearch])
def test_model_based_searches_improve_on_their_start(cls):
    asked = run(cls, 0, trials=96)
    first = max(score(p) for p in asked[:8])
    best = max(score(p) for p in asked)
    assert best > first
    assert best > -1.0  # near the optimum (x=70, y=3, kind=b → 1)


def test_grid_batches_and_cap():
    space = parse_space(["a=int:1:10", "b=cat:u,v"])
    g = GridSearch(space, batch_size=7, trials=15)
    seen = []
    while batch := g.ask():
        assert len(batch) <= 7
        seen.extend(batch)
    assert seen == space.grid()[:15]


def test_heatmap_grid_means_over_other_parameters(home, example, tmp_path):
    from rbt.research import optimize
    from rbt.research.report import heatmap_grid, write_heatmap

    res = optimize(
        example,
        {"fast": "int:5:10:5", "slow": "int:30:40:10", "universe": "cat:AAA,BBB"},
        home=home,
        start="2018-06-01",
        end="2018-12-31",
        checkpoint=False,
    )
    xs, ys, z = heatmap_grid(res, "fast", "slow")
    assert (xs, ys) == ([5, 10], [30, 40])
    v = {
        (t["params"]["fast"], t["params"]["slow"], t["params"]["universe"]): t["value"]
        for t in res.trials
    }
    assert z[1][0] == pytest.approx((v[(5, 40, "AAA")] + v[(5, 40, "BBB")]) / 2)
    path = write_heatmap(res, tmp_path / "h.html")
    assert "Heatmap" in path.read_text() or "heatmap" in path.read_text()
