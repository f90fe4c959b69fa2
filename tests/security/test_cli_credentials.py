"""``rbt credentials`` through the real CLI (subprocesses, no terminal)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

RBT = [sys.executable, "-m", "rbt.cli.main"]
KEY, SECRET = "cli-canary-key-5b1e07", "cli-canary-secret-9d44ac"
PASSWORD = "cli-store-password"


def _rbt(home: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("RBT_CRED")}
    full_env = {**base, "COLUMNS": "200", "RBT_CREDENTIALS_PASSWORD": PASSWORD, **env}
    full_env = {k: v for k, v in full_env.items() if v}  # "" unsets
    done = subprocess.run(
        [*RBT, "credentials", *args, "--home", str(home)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=full_env,
        check=False,
    )
    for value in (KEY, SECRET, PASSWORD):
        for form in (value, base64.b64encode(value.encode()).decode(), value.encode().hex()):
            assert form not in done.stdout + done.stderr
    return done


@pytest.fixture
def home(tmp_path: Path) -> Path:
    done = _rbt(
        tmp_path, "add", "main", "--venue", "binance", "--stdin", stdin=f"{KEY}\n{SECRET}\n"
    )
    assert done.returncode == 0, done.stderr
    assert "stored main (binance, key …" in done.stdout
    return tmp_path


def test_add_and_list_show_names_never_values(home: Path) -> None:
    env = {"RBT_CRED_SPARE_API_KEY": "spare-key-1", "RBT_CRED_SPARE_SECRET": "spare-sec-1"}
    added = _rbt(
        home,
        "add",
        "okx",
        "--venue",
        "okx",
        "--from-env",
        "--json",
        RBT_CRED_OKX_API_KEY="okx-key-123",
        RBT_CRED_OKX_SECRET="okx-secret-456",
        RBT_CRED_OKX_PASSWORD="okx-phrase-789",
    )
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["name"] == "okx"
    listed = _rbt(home, "list", "--json", **env)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["venue"], r["source"]) for r in rows] == [
        ("main", "binance", "store"),
        ("okx", "okx", "store"),
        ("spare", "", "env"),
    ]
    assert all(len(r["fingerprint"]) == 4 for r in rows)
    for value in ("okx-key-123", "okx-secret-456", "okx-phrase-789", "spare-key-1"):
        assert value not in listed.stdout
    table = _rbt(home, "list")
    assert "main" in table.stdout
    assert "binance" in table.stdout


def test_duplicates_remove_and_bad_input(home: Path) -> None:
    again = _rbt(home, "add", "main", "--venue", "binance", "--stdin", stdin="a-key\na-secret\n")
    assert again.returncode == 2
    assert "already exists" in again.stderr
    replaced = _rbt(
        home,
        "add",
        "main",
        "--venue",
        "kraken",
        "--stdin",
        "--replace",
        stdin="k-key-0001\nk-secret-0001\n",
    )
    assert replaced.returncode == 0, replaced.stderr
    short = _rbt(home, "add", "x", "--venue", "binance", "--stdin", stdin="only-a-key\n")
    assert short.returncode == 2
    assert "expected the API key and the secret on two lines" in short.stderr
    no_tty = _rbt(home, "add", "y", "--venue", "binance")
    assert no_tty.returncode == 2
    assert "no terminal to prompt in: use --from-env or --stdin" in no_tty.stderr
    bad_venue = _rbt(home, "add", "z", "--venue", "Bin Ance", "--stdin", stdin="a\nb\n")
    assert bad_venue.returncode == 2
    assert "venue 'Bin Ance'" in bad_venue.stderr
    removed = _rbt(home, "remove", "main", "--json")
    assert json.loads(removed.stdout)["removed"] == "main"
    assert json.loads(_rbt(home, "list", "--json").stdout) == []
    missing = _rbt(home, "remove", "main")
    assert missing.returncode == 2
    assert "no credential named 'main'" in missing.stderr


def test_rotate_password(home: Path) -> None:
    rotated = _rbt(home, "rotate-password", "--json", RBT_CREDENTIALS_NEW_PASSWORD="pw-two-2")
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["entries"] == 1
    old = _rbt(home, "verify")
    assert old.returncode == 1
    assert "wrong password, or the file was modified" in old.stderr
    new = _rbt(home, "verify", "--json", RBT_CREDENTIALS_PASSWORD="pw-two-2")
    assert json.loads(new.stdout) == {
        "entries": 1,
        "ok": True,
        "path": str(home / "credentials"),
    }


def test_fails_closed_on_a_wrong_password_or_a_tampered_file(home: Path) -> None:
    wrong = _rbt(home, "list", RBT_CREDENTIALS_PASSWORD="cli-store-passwore")
    assert wrong.returncode == 1
    assert "authentication failed; nothing was read" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    path = home / "credentials"
    doc = json.loads(path.read_text())
    raw = bytearray(base64.b64decode(doc["ciphertext"]))
    raw[5] ^= 0x80
    doc["ciphertext"] = base64.b64encode(bytes(raw)).decode()
    path.write_text(json.dumps(doc))
    tampered = _rbt(home, "verify")
    assert tampered.returncode == 1
    assert "authentication failed" in tampered.stderr
    assert tampered.stdout == ""


def test_no_password_and_no_terminal(home: Path) -> None:
    done = _rbt(home, "list", RBT_CREDENTIALS_PASSWORD="")
    assert done.returncode == 2
    assert "set RBT_CREDENTIALS_PASSWORD or run in a terminal" in done.stderr


def test_a_group_readable_store_is_refused(home: Path) -> None:
    (home / "credentials").chmod(0o640)
    done = _rbt(home, "list")
    assert done.returncode == 1
    assert "chmod 600" in done.stderr


def _in_terminal(args: list[str], answers: dict[bytes, bytes]) -> tuple[int, bytes]:
    """Run ``rbt`` with a pseudo-terminal as its controlling terminal, answering prompts."""
    import fcntl
    import select
    import termios
    import time

    master, slave = os.openpty()

    def own_terminal() -> None:  # getpass reads /dev/tty: make the pty the child's
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {k: v for k, v in os.environ.items() if not k.startswith("RBT_CRED")}
    proc = subprocess.Popen(
        [*RBT, *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        preexec_fn=own_terminal,
        env=env,
        close_fds=True,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if not select.select([master], [], [], 0.2)[0]:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            for prompt, answer in answers.items():
                if seen.endswith(prompt):
                    os.write(master, answer)
    finally:
        os.close(master)
        proc.wait(timeout=30)
    return proc.returncode, seen


def test_interactive_prompts_do_not_echo(tmp_path: Path) -> None:
    code, seen = _in_terminal(
        ["credentials", "add", "main", "--venue", "binance", "--home", str(tmp_path)],
        {
            b"API key: ": KEY.encode() + b"\n",
            b"API secret: ": SECRET.encode() + b"\n",
            b"(empty if the venue has none): ": b"\n",
            b"New credential store password: ": PASSWORD.encode() + b"\n",
            b"New credential store password (again): ": PASSWORD.encode() + b"\n",
        },
    )
    assert code == 0, seen
    assert b"stored main (binance" in seen
    for value in (KEY, SECRET, PASSWORD):
        assert value.encode() not in seen  # typed, never echoed
    listed = _rbt(tmp_path, "list", "--json")
    assert [r["name"] for r in json.loads(listed.stdout)] == ["main"]
    # an existing store asks for its password once
    code, seen = _in_terminal(
        ["credentials", "add", "second", "--venue", "okx", "--home", str(tmp_path)],
        {
            b"API key: ": b"k-5678\n",
            b"API secret: ": b"s-5678\n",
            b"(empty if the venue has none): ": b"p-5678\n",
            b"Credential store password: ": PASSWORD.encode() + b"\n",
        },
    )
    assert code == 0, seen
    assert b"(again)" not in seen
    listed = _rbt(tmp_path, "list", "--json")
    assert [r["name"] for r in json.loads(listed.stdout)] == ["main", "second"]
    mismatch, seen = _in_terminal(
        ["credentials", "add", "x", "--venue", "binance", "--home", str(tmp_path / "other")],
        {
            b"API key: ": b"k-1234\n",
            b"API secret: ": b"s-1234\n",
            b"(empty if the venue has none): ": b"\n",
            b"New credential store password: ": b"one-password\n",
            b"New credential store password (again): ": b"another-password\n",
        },
    )
    assert mismatch == 2
    assert b"the two passwords differ" in seen
    assert not (tmp_path / "other" / "credentials").exists()


def test_error_messages_are_masked(tmp_path: Path) -> None:
    # a message quoting a secret (as ccxt's quote signed URLs) is masked on the way out
    code = (
        "import sys; from rbt.kernel.secrets import Secret; from rbt.cli.main import main; "
        f"held = Secret({KEY!r}); "
        f"sys.exit(main(['credentials', 'add', {KEY + '!'!r}, '--venue', 'binance', "
        f"'--home', {str(tmp_path)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "credential name '********!'" in done.stderr
    assert KEY not in done.stderr
