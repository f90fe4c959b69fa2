"""The credential store on disk and :func:`rbt.security.credentials.resolve`."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from rbt.data.home import RbtHome
from rbt.kernel.errors import ConfigError
from rbt.kernel.secrets import Secret
from rbt.security.credentials import (
    Credential,
    CredentialStore,
    InsecureFileError,
    env_names,
    from_env,
    resolve,
    store_lock,
)
from rbt.security.vault import Argon2idParams, VaultAuthError

FAST = Argon2idParams(memory_cost=19456, iterations=2, lanes=1)
PASSWORD = Secret("store-password-1")
KEY, SECRET, PHRASE = "canary-key-7f3a9", "canary-secret-c41d2", "canary-phrase-88e0"


def _credential(name: str = "main", venue: str = "binance", **extra: str) -> Credential:
    secrets = {"apiKey": Secret(KEY), "secret": Secret(SECRET)}
    secrets.update({k: Secret(v) for k, v in extra.items()})
    return Credential(name, venue, secrets, "test")


@pytest.fixture
def home(tmp_path: Path) -> RbtHome:
    home = RbtHome(tmp_path / "home")
    store = CredentialStore.create(home.credentials, PASSWORD, kdf=FAST)
    store.add(_credential())
    store.add(_credential("okx-sub", "okx", password=PHRASE))
    store.save()
    return home


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    # the developer's own RBT_CRED_* / password must not leak into these tests
    for var in list(os.environ):
        if var.startswith("RBT_CRED"):
            monkeypatch.delenv(var)


def test_the_store_is_private_and_holds_no_plaintext(home: RbtHome) -> None:
    path = home.credentials
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    for value in (KEY, SECRET, PHRASE, "okx-sub", "binance"):
        assert value.encode() not in data
    # no temporary file left next to it
    assert sorted(p.name for p in path.parent.iterdir()) == ["credentials"]


def test_resolve_reads_the_store(home: RbtHome) -> None:
    found = resolve(home, "okx-sub", password=PASSWORD)
    assert set(found) == {"apiKey", "secret", "password"}
    assert all(isinstance(v, Secret) for v in found.values())
    assert [found[k].reveal() for k in ("apiKey", "secret", "password")] == [KEY, SECRET, PHRASE]
    assert set(resolve(home, "main", password=PASSWORD)) == {"apiKey", "secret"}


def test_resolve_takes_the_password_from_the_environment(
    home: RbtHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RBT_CREDENTIALS_PASSWORD", PASSWORD.reveal())
    assert resolve(home, "main")["secret"].reveal() == SECRET


def test_the_environment_comes_before_the_store(
    home: RbtHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = env_names("okx-sub")
    assert names["apiKey"] == "RBT_CRED_OKX_SUB_API_KEY"
    monkeypatch.setenv(names["apiKey"], "env-key")
    monkeypatch.setenv(names["secret"], "env-secret")
    # no password given and none needed: the store is not opened
    found = resolve(home, "okx-sub")
    assert {k: v.reveal() for k, v in found.items()} == {
        "apiKey": "env-key",
        "secret": "env-secret",
    }


def test_a_half_set_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RBT_CRED_MAIN_API_KEY", "k")
    with pytest.raises(ConfigError, match="also set RBT_CRED_MAIN_SECRET"):
        from_env("main")


def test_a_missing_name_says_how_to_add_it(home: RbtHome, tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as failed:
        resolve(home, "kraken", password=PASSWORD)
    message = str(failed.value)
    assert "no credentials named 'kraken'" in message
    assert "rbt credentials add kraken --venue VENUE" in message
    assert "RBT_CRED_KRAKEN_API_KEY" in message
    with pytest.raises(ConfigError, match="no credentials named 'main'"):
        resolve(RbtHome(tmp_path / "empty"), "main", password=PASSWORD)


def test_without_a_password_or_terminal_it_says_what_to_set(
    home: RbtHome, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RBT_CREDENTIALS_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="set RBT_CREDENTIALS_PASSWORD or run in a terminal"):
        resolve(home, "main")


@pytest.mark.parametrize("name", ["", "1abc", "a b", "x" * 65, "a/b", "ä"])
def test_bad_names_are_refused(home: RbtHome, name: str) -> None:
    with pytest.raises(ConfigError, match="credential name"):
        resolve(home, name, password=PASSWORD)


def test_a_wrong_password_fails_closed_without_echoing(home: RbtHome) -> None:
    with pytest.raises(VaultAuthError) as failed:
        resolve(home, "main", password=Secret("store-password-2"))
    assert "store-password" not in str(failed.value)
    assert str(home.credentials) in str(failed.value)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o666])
def test_a_readable_file_is_refused(home: RbtHome, mode: int) -> None:
    home.credentials.chmod(mode)
    with pytest.raises(InsecureFileError, match=r"chmod 600"):
        resolve(home, "main", password=PASSWORD)


def test_add_remove_and_rekey(home: RbtHome) -> None:
    store = CredentialStore.load(home.credentials, PASSWORD)
    with pytest.raises(ConfigError, match="already exists"):
        store.add(_credential())
    store.add(_credential("main", "kraken"), replace=True)
    store.remove("okx-sub")
    with pytest.raises(ConfigError, match="no credential named 'okx-sub'"):
        store.remove("okx-sub")
    new = Secret("store-password-2")
    store.rekey(new)
    store.save()
    with pytest.raises(VaultAuthError):
        CredentialStore.load(home.credentials, PASSWORD)
    reopened = CredentialStore.load(home.credentials, new)
    assert {n: c.venue for n, c in reopened.entries.items()} == {"main": "kraken"}
    assert reopened.entries["main"].fingerprint() == _credential().fingerprint()


@pytest.mark.parametrize(
    ("credential", "expected"),
    [
        (_credential(venue="Binance Spot"), "venue 'Binance Spot'"),
        (Credential("x", "binance", {"apiKey": Secret("k")}, "t"), "secret is empty"),
        (
            Credential("x", "binance", {"apiKey": Secret(""), "secret": Secret("s")}, "t"),
            "apiKey is empty",
        ),
    ],
)
def test_incomplete_entries_are_refused(
    home: RbtHome, credential: Credential, expected: str
) -> None:
    store = CredentialStore.load(home.credentials, PASSWORD)
    with pytest.raises(ConfigError, match=expected):
        store.add(credential)


def test_concurrent_writers_lose_no_entry(home: RbtHome) -> None:
    # read-modify-write under the lock: two writers each add an entry, both survive
    def writer(name: str) -> None:
        with store_lock(home.credentials):
            store = CredentialStore.load(home.credentials, PASSWORD)
            store.add(_credential(name))
            store.save()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("w1", "w2", "w3")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    names = set(CredentialStore.load(home.credentials, PASSWORD).entries)
    assert names == {"main", "okx-sub", "w1", "w2", "w3"}


def test_an_empty_password_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty password"):
        CredentialStore.create(tmp_path / "credentials", Secret(""))


def test_reading_credentials_is_logged_by_name_only(
    home: RbtHome, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("INFO", logger="rbt.security.credentials"):
        resolve(home, "okx-sub", password=PASSWORD)
    assert "credentials 'okx-sub' (okx) read from the store" in caplog.text
    for value in (KEY, SECRET, PHRASE, PASSWORD.reveal()):
        assert value not in caplog.text
