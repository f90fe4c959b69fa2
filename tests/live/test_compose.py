"""``rbt live``'s composition: endpoint (sandbox.json or --sandbox-url, loopback only;
credentials by name), the broker plugin's feed and broker by name, a LiveRun on them; and
the CLI's refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rbt.data.home import RbtHome
from rbt.kernel.secrets import Secret
from rbt.live.compose import compose_live, venue_endpoint

from .venue_run import STRATEGY, SYMBOLS, VenuePlugin


def test_sandbox_endpoint_from_sandbox_json(tmp_path: Path) -> None:
    home = RbtHome(tmp_path)
    with pytest.raises(ValueError, match="start the local venue simulator with `rbt sandbox`"):
        venue_endpoint(home, "sandbox")
    (tmp_path / "sandbox.json").write_text(
        json.dumps(
            {
                "rest": "http://127.0.0.1:5001",
                "ws": "ws://127.0.0.1:5001",
                "api_key": "sim-key",
                "secret": "sim-secret",
            }
        )
    )
    endpoint = venue_endpoint(home, "sandbox")
    assert endpoint.mode == "sandbox"
    assert dict(endpoint.urls) == {"rest": "http://127.0.0.1:5001", "ws": "ws://127.0.0.1:5001"}
    assert endpoint.credentials["apiKey"] == Secret("sim-key")
    assert "sim-secret" not in repr(endpoint)
    given = venue_endpoint(home, "sandbox", sandbox_url="http://localhost:7000")
    assert dict(given.urls) == {"rest": "http://localhost:7000", "ws": "ws://localhost:7000"}
    assert dict(given.credentials) == {}
    with pytest.raises(ValueError, match="not a loopback address"):
        venue_endpoint(home, "sandbox", sandbox_url="http://10.1.2.3:7000")
    (tmp_path / "sandbox.json").write_text(json.dumps({"rest": "https://api.binance.com"}))
    with pytest.raises(ValueError, match="not a loopback address"):
        venue_endpoint(home, "sandbox")
    (tmp_path / "sandbox.json").write_text("{nope")
    with pytest.raises(ValueError, match=r"sandbox.json: not JSON"):
        venue_endpoint(home, "sandbox")
    with pytest.raises(ValueError, match="testnet trading needs --credentials NAME"):
        venue_endpoint(home, "testnet")


def test_compose_by_plugin_name_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rbt.cli.main import main as rbt_main
    from rbt.plugins import plugin_manager

    strategy = tmp_path / "crypto.py"
    strategy.write_text(STRATEGY)
    home = RbtHome(tmp_path / "home")
    plugin = VenuePlugin(days=12)
    url = "http://127.0.0.1:5002"
    plugin.add(url, tmp_path)
    home.root.mkdir(parents=True)
    canary = "canary-secret-9f1c"
    (home.root / "sandbox.json").write_text(
        json.dumps(
            {"rest": url, "ws": "ws://127.0.0.1:5002", "api_key": "sim-key", "secret": canary}
        )
    )
    manager = plugin_manager(plugins=[("venue-test", plugin.register())])
    endpoint = venue_endpoint(home, "sandbox")
    run = compose_live(
        strategy,
        broker="venue",
        endpoint=endpoint,
        symbols=SYMBOLS,
        interval="1d",
        manager=manager,
        home=home,
        capital_base=100_000,
        start="2024-01-01",
    )
    import asyncio

    try:
        result = asyncio.run(run.run())
    finally:
        run.close()
        plugin.venues[url].close()
    assert plugin.endpoints == [endpoint]
    assert endpoint.credentials["secret"].reveal() == canary
    for path in home.root.rglob("*.sqlite*"):  # never a secret in the database
        assert canary.encode() not in path.read_bytes(), path
    assert run.mode == "sandbox"
    assert result.orders.height > 0
    assert result.trading_state == "ACTIVE"
    capsys.readouterr()
    assert rbt_main(["status", "--json", "--home", str(home.root)]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["run_id"], row["mode"], row["broker"]) == (result.run_id, "sandbox", "venue")
    assert row["status"] == "stopped"
    assert {p["symbol"] for p in row["positions"]} <= set(SYMBOLS)


def test_rbt_live_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rbt.cli.main import main as rbt_main

    strategy = tmp_path / "crypto.py"
    strategy.write_text(STRATEGY)
    h = ["--home", str(tmp_path / "home")]

    def refused(*args: str) -> str:
        assert rbt_main(["live", str(strategy), "--broker", "venue", *args, *h]) != 0
        return capsys.readouterr().err

    assert "--i-understand-this-trades-real-money" in refused()
    assert "not a loopback address" in refused("--sandbox", "--sandbox-url", "http://192.0.2.7:9")
    assert "rbt sandbox" in refused("--sandbox")
    assert "needs --credentials" in refused("--testnet")
    assert "exclude each other" in refused("--testnet", "--sandbox")
    assert (
        rbt_main(
            [
                "live",
                str(strategy),
                "--broker",
                "nosuch",
                "--sandbox",
                "--sandbox-url",
                "http://127.0.0.1:9",
                *h,
            ]
        )
        != 0
    )
    assert "unknown broker 'nosuch'" in capsys.readouterr().err
