"""``rbt credentials add | list | remove | rotate-password | verify``.

Values are read without echo (or from ``RBT_CRED_<NAME>_*`` with ``--from-env``, or from
stdin with ``--stdin``) and never printed: ``list`` shows names, venues, where each comes
from and a 4-digit fingerprint of the API key's hash. The store password comes from
``RBT_CREDENTIALS_PASSWORD`` or a prompt; ``rotate-password`` reads the new one from
``RBT_CREDENTIALS_NEW_PASSWORD`` or a prompt.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rbt.cli.output import console, print_json, table

if TYPE_CHECKING:
    from rbt.kernel.secrets import Secret
    from rbt.security.credentials import Credential

ENV_NEW_PASSWORD = "RBT_CREDENTIALS_NEW_PASSWORD"

app = typer.Typer(
    name="credentials",
    help="Venue API credentials: an encrypted store under $RBT_HOME, or RBT_CRED_* variables.",
    epilog=(
        "Environment (looked up before the store): RBT_CRED_<NAME>_API_KEY and "
        "RBT_CRED_<NAME>_SECRET (both required), RBT_CRED_<NAME>_PASSWORD (passphrase) and "
        "RBT_CRED_<NAME>_VENUE (optional); <NAME> is the credential name upper-cased with "
        "'-' written '_'. RBT_CREDENTIALS_PASSWORD: the store password (else a prompt "
        "without echo); RBT_CREDENTIALS_NEW_PASSWORD: the new one for rotate-password."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="RBT home directory (default: $RBT_HOME or the user data dir).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
NameArgument = Annotated[str, typer.Argument(help="Credential name, e.g. binance-main.")]


def _home(path: Path | None) -> Any:
    from rbt.data.home import RbtHome

    return RbtHome(path) if path is not None else RbtHome()


@app.command()
def add(
    name: NameArgument,
    venue: Annotated[str, typer.Option("--venue", help="Venue id, e.g. binance.")],
    from_env: Annotated[
        bool,
        typer.Option("--from-env", help="Take the values from RBT_CRED_<NAME>_API_KEY etc."),
    ] = False,
    from_stdin: Annotated[
        bool,
        typer.Option(
            "--stdin", help="Read API key, secret and optional passphrase as lines of stdin."
        ),
    ] = False,
    replace: Annotated[bool, typer.Option("--replace", help="Overwrite an entry.")] = False,
    home: HomeOption = None,
    as_json: JsonOption = False,
) -> None:
    """Store credential NAME for VENUE, encrypted (prompts for the values without echo)."""
    from rbt.kernel.errors import ConfigError
    from rbt.security import credentials as creds

    creds.validate_name(name)
    creds.validate_venue(venue)
    if from_env and from_stdin:
        raise ConfigError("--from-env and --stdin exclude each other")
    if from_env:
        found = creds.from_env(name)
        if found is None:
            names = creds.env_names(name)
            raise ConfigError(f"--from-env: set {names['apiKey']} and {names['secret']}")
        secrets = dict(found.secrets)
    else:
        secrets = _read_stdin() if from_stdin else _prompt_values()
    path = _home(home).credentials
    with creds.store_lock(path):
        creating = not path.exists()
        password = creds.store_password(
            confirm=creating,
            prompt="New credential store password" if creating else "Credential store password",
        )
        store = creds.CredentialStore.open_or_create(path, password)
        credential = creds.Credential(name, venue, secrets, "store")
        store.add(credential, replace=replace)
        store.save()
    if as_json:
        print_json(_row(credential) | {"path": str(path)})
    else:
        console().print(f"stored {name} ({venue}, key …{credential.fingerprint()}) in {path}")


def _prompt_values() -> dict[str, Secret]:
    import getpass

    from rbt.kernel.errors import ConfigError
    from rbt.kernel.secrets import Secret

    if not sys.stdin.isatty():
        raise ConfigError("no terminal to prompt in: use --from-env or --stdin")
    values = {
        "apiKey": getpass.getpass("API key: "),
        "secret": getpass.getpass("API secret: "),
        "password": getpass.getpass("Passphrase (empty if the venue has none): "),
    }
    return {k: Secret(v) for k, v in values.items() if v}


def _read_stdin() -> dict[str, Secret]:
    from rbt.kernel.errors import ConfigError
    from rbt.kernel.secrets import Secret

    lines = [line.rstrip("\r\n") for line in sys.stdin.readlines()]
    if len(lines) < 2 or not lines[0] or not lines[1]:
        raise ConfigError("--stdin: expected the API key and the secret on two lines")
    if len(lines) > 3:
        raise ConfigError("--stdin: expected at most three lines (key, secret, passphrase)")
    fields = ("apiKey", "secret", "password")
    return {f: Secret(v) for f, v in zip(fields, lines, strict=False) if v}


def _row(credential: Credential) -> dict[str, str]:
    return {
        "name": credential.name,
        "venue": credential.venue,
        "source": credential.source,
        "fingerprint": credential.fingerprint(),
    }


@app.command("list")
def list_(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """List credential names, venues, sources and key fingerprints (never the values)."""
    from rbt.security.credentials import CredentialStore, store_password

    path = _home(home).credentials
    rows: list[dict[str, str]] = []
    if path.exists():
        store = CredentialStore.load(path, store_password())
        rows += [_row(c) for c in store.entries.values()]
    rows += [_row(c) for c in _env_credentials()]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no credentials yet: rbt credentials add NAME --venue VENUE")
        return
    columns = ["name", "venue", "source", "fingerprint"]
    console().print(table("Credentials", columns, [[r[c] for c in columns] for r in rows]))


def _env_credentials() -> list[Credential]:
    from rbt.security.credentials import from_env

    found = []
    for var in sorted(os.environ):
        match = re.fullmatch(r"RBT_CRED_([A-Z][A-Z0-9_]*)_API_KEY", var)
        if match:
            credential = from_env(match.group(1).lower())
            if credential is not None:
                found.append(credential)
    return found


@app.command()
def remove(name: NameArgument, home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Delete credential NAME from the store."""
    from rbt.kernel.errors import ConfigError
    from rbt.security.credentials import CredentialStore, store_lock, store_password

    path = _home(home).credentials
    if not path.exists():
        raise ConfigError(f"no credential store at {path}")
    with store_lock(path):
        store = CredentialStore.load(path, store_password())
        store.remove(name)
        store.save()
    if as_json:
        print_json({"removed": name, "path": str(path)})
    else:
        console().print(f"removed {name} from {path}")


@app.command("rotate-password")
def rotate_password(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Re-encrypt the store under a new password (and a new salt)."""
    from rbt.kernel.errors import ConfigError
    from rbt.security.credentials import CredentialStore, store_lock, store_password

    path = _home(home).credentials
    if not path.exists():
        raise ConfigError(f"no credential store at {path}")
    with store_lock(path):
        store = CredentialStore.load(path, store_password())
        new_password = store_password(
            confirm=True, prompt="New credential store password", env=ENV_NEW_PASSWORD
        )
        store.rekey(new_password)
        store.save()
    if as_json:
        print_json({"rotated": True, "entries": len(store.entries), "path": str(path)})
    else:
        console().print(f"{path}: re-encrypted {len(store.entries)} entries under the new password")


@app.command()
def verify(home: HomeOption = None, as_json: JsonOption = False) -> None:
    """Open the store with the password: fails (exit 1) on a wrong password or a changed
    file."""
    from rbt.kernel.errors import ConfigError
    from rbt.security.credentials import CredentialStore, store_password

    path = _home(home).credentials
    if not path.exists():
        raise ConfigError(f"no credential store at {path}")
    store = CredentialStore.load(path, store_password())
    if as_json:
        print_json({"ok": True, "entries": len(store.entries), "path": str(path)})
    else:
        console().print(f"{path}: ok, {len(store.entries)} entries")


def register(root: typer.Typer) -> None:
    """Add ``rbt credentials`` to the root app."""
    root.add_typer(app, name="credentials")
