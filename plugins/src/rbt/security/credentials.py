"""Named venue credentials: the encrypted store and environment variables.

Two sources, looked up in this order by :func:`resolve`:

1. **Environment variables** ``RBT_CRED_<NAME>_API_KEY`` and ``RBT_CRED_<NAME>_SECRET``
   (both required), ``RBT_CRED_<NAME>_PASSWORD`` (optional passphrase) and
   ``RBT_CRED_<NAME>_VENUE`` (optional); ``<NAME>`` is the credential name upper-cased with
   ``-`` written ``_`` (``binance-main`` → ``RBT_CRED_BINANCE_MAIN_API_KEY``).
2. **The store** ``$RBT_HOME/credentials``: entries ``name → {venue, apiKey, secret,
   password?}`` in one encrypted file (:mod:`rbt.security.vault`), mode 0600, written
   atomically under a lock. Its password comes from ``RBT_CREDENTIALS_PASSWORD``, else an
   interactive prompt without echo; a file readable by group or others is refused.

Every value leaves this module as a :class:`~rbt.kernel.secrets.Secret`, which registers
it with the log redaction filter on creation.
"""

from __future__ import annotations

import contextlib
import fcntl
import getpass
import hashlib
import json
import logging
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

import rbt.security.redaction  # noqa: F401  (registers Secrets with the log filter)
from rbt.kernel.errors import ConfigError
from rbt.kernel.secrets import Secret
from rbt.security.vault import (
    KdfParams,
    VaultError,
    VaultFormatError,
    VaultKey,
    decrypt,
    default_kdf,
    derive_key,
    encrypt,
)

if TYPE_CHECKING:
    from rbt.data.home import RbtHome

__all__ = [
    "ENV_PASSWORD",
    "FIELDS",
    "Credential",
    "CredentialStore",
    "InsecureFileError",
    "env_names",
    "from_env",
    "lookup",
    "resolve",
    "store_lock",
    "store_password",
    "validate_name",
]

ENV_PASSWORD = "RBT_CREDENTIALS_PASSWORD"
_log = logging.getLogger(__name__)
#: secret fields of an entry (ccxt's names); ``password`` is the optional passphrase
FIELDS = ("apiKey", "secret", "password")
REQUIRED = ("apiKey", "secret")
_ENV_SUFFIX = {"apiKey": "API_KEY", "secret": "SECRET", "password": "PASSWORD"}
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_VENUE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class InsecureFileError(VaultError):
    """The store file can be read by other users."""


def validate_name(name: str) -> str:
    """``name`` if it is a valid credential name, else a :class:`ConfigError`."""
    if not _NAME.match(name):
        raise ConfigError(
            f"credential name {name!r}: expected a letter then letters, digits, '_' or '-' "
            "(at most 64 characters)"
        )
    return name


def validate_venue(venue: str) -> str:
    """``venue`` if it looks like a venue id (``binance``, ``ccxt.kraken``)."""
    if not _VENUE.match(venue):
        raise ConfigError(
            f"venue {venue!r}: expected a lower-case id such as 'binance' "
            "(letters, digits, '.', '_' or '-')"
        )
    return venue


@attrs.frozen
class Credential:
    """One named set of venue credentials."""

    name: str
    venue: str
    secrets: Mapping[str, Secret]
    source: str  # "store" or "env"

    def fingerprint(self) -> str:
        """The last 4 hex digits of the API key's SHA-256: tells keys apart, reveals nothing."""
        digest = hashlib.sha256(self.secrets["apiKey"].reveal().encode("utf-8")).hexdigest()
        return digest[-4:]


# -- environment -------------------------------------------------------------------------


def env_names(name: str) -> dict[str, str]:
    """The environment variable of each field of credential ``name`` (plus ``venue``)."""
    prefix = "RBT_CRED_" + name.upper().replace("-", "_") + "_"
    return {**{f: prefix + s for f, s in _ENV_SUFFIX.items()}, "venue": prefix + "VENUE"}


def from_env(name: str, environ: Mapping[str, str] | None = None) -> Credential | None:
    """Credential ``name`` from environment variables, or ``None`` if none is set."""
    environ = os.environ if environ is None else environ
    names = env_names(name)
    found = {f: environ[names[f]] for f in FIELDS if environ.get(names[f])}
    if not found:
        return None
    missing = [names[f] for f in REQUIRED if f not in found]
    if missing:
        raise ConfigError(
            f"credential {name!r} is partly set in the environment: also set "
            + " and ".join(missing)
        )
    venue = environ.get(names["venue"], "")
    if venue:
        validate_venue(venue)
    return Credential(name, venue, {f: Secret(v) for f, v in found.items()}, "env")


# -- password ----------------------------------------------------------------------------


def store_password(
    *, confirm: bool = False, prompt: str = "Credential store password", env: str = ENV_PASSWORD
) -> Secret:
    """The store password: environment variable ``env``, else a prompt without echo.

    :param confirm: ask twice (a new password).
    """
    value = os.environ.get(env)
    if value:
        return Secret(value)
    if not sys.stdin.isatty():
        raise ConfigError(
            f"the credential store needs its password: set {env} or run in a terminal"
        )
    first = getpass.getpass(f"{prompt}: ")
    if confirm and getpass.getpass(f"{prompt} (again): ") != first:
        raise ConfigError("the two passwords differ")
    if not first:
        raise ConfigError("an empty password is not allowed")
    return Secret(first)


# -- the store ---------------------------------------------------------------------------


@contextlib.contextmanager
def store_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``path``'s sibling ``.lock`` file (read-modify-write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


class CredentialStore:
    """The decrypted entries of one store file, and how to write them back."""

    def __init__(self, path: Path, key: VaultKey, entries: dict[str, Credential]) -> None:
        self.path = path
        self._key = key
        self._entries = entries

    @classmethod
    def create(
        cls, path: Path, password: Secret, *, kdf: KdfParams | None = None
    ) -> CredentialStore:
        """An empty store that :meth:`save` will write to ``path``."""
        if not password:
            raise ConfigError("an empty password is not allowed")
        return cls(path, derive_key(password, kdf or default_kdf()), {})

    @classmethod
    def load(cls, path: Path, password: Secret) -> CredentialStore:
        """Open ``path`` with ``password``.

        :raises InsecureFileError: the file is readable by group or others.
        :raises VaultAuthError: wrong password or modified file (fails closed).
        :raises VaultFormatError: not a store file (names file and field).
        """
        check_permissions(path)
        plaintext, key = decrypt(path.read_bytes(), password, source=str(path))
        return cls(path, key, _parse_entries(plaintext, str(path)))

    @classmethod
    def open_or_create(cls, path: Path, password: Secret) -> CredentialStore:
        """:meth:`load` if ``path`` exists, else :meth:`create`."""
        return cls.load(path, password) if path.exists() else cls.create(path, password)

    @property
    def entries(self) -> Mapping[str, Credential]:
        """Entries by name."""
        return dict(self._entries)

    def add(self, credential: Credential, *, replace: bool = False) -> None:
        """Add (or with ``replace``, overwrite) an entry; :meth:`save` writes it."""
        validate_name(credential.name)
        validate_venue(credential.venue)
        missing = [f for f in REQUIRED if not credential.secrets.get(f)]
        if missing:
            raise ConfigError(f"credential {credential.name!r}: {', '.join(missing)} is empty")
        if credential.name in self._entries and not replace:
            raise ConfigError(
                f"credential {credential.name!r} already exists in {self.path} "
                "(remove it first, or pass --replace)"
            )
        self._entries[credential.name] = attrs.evolve(credential, source="store")

    def remove(self, name: str) -> None:
        """Drop entry ``name``; :meth:`save` writes it."""
        if name not in self._entries:
            raise ConfigError(f"no credential named {name!r} in {self.path}")
        del self._entries[name]

    def rekey(self, password: Secret, *, kdf: KdfParams | None = None) -> None:
        """Use a new password (new salt; :meth:`save` writes the file under it)."""
        if not password:
            raise ConfigError("an empty password is not allowed")
        self._key = derive_key(password, kdf or self._key.kdf)

    def save(self) -> None:
        """Encrypt under a fresh nonce and replace the file atomically (mode 0600)."""
        doc = {
            "entries": {
                name: {
                    "venue": cred.venue,
                    **{f: s.reveal() for f, s in cred.secrets.items() if f in FIELDS},
                }
                for name, cred in sorted(self._entries.items())
            }
        }
        write_private_atomic(self.path, encrypt(json.dumps(doc).encode("utf-8"), self._key))


def check_permissions(path: Path) -> None:
    """Refuse a store that group or others can read or write, or that another user owns."""
    info = path.stat()
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        raise InsecureFileError(
            f"{path} is accessible to group or others (mode {mode:o}); a credential store "
            f"must be private: run `chmod 600 {path}`"
        )
    if info.st_uid != os.getuid():
        raise InsecureFileError(f"{path} belongs to another user (uid {info.st_uid})")


def write_private_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600: temp file, fsync, rename, fsync dir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _parse_entries(plaintext: bytes, source: str) -> dict[str, Credential]:
    # authenticated, so only a bug or another rbt version gets here; never echo values
    try:
        doc: Any = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise VaultFormatError(f"{source}: the decrypted payload is not JSON") from None
    entries = doc.get("entries") if isinstance(doc, dict) else None
    if not isinstance(entries, dict):
        raise VaultFormatError(f"{source}: the decrypted payload has no 'entries' object")
    out: dict[str, Credential] = {}
    for name, entry in entries.items():
        where = f"{source}: entry {name!r}"
        if not isinstance(entry, dict):
            raise VaultFormatError(f"{where}: expected an object")
        bad = [
            f
            for f in (*REQUIRED, "venue")
            if not isinstance(entry.get(f), str) or (f != "venue" and not entry[f])
        ]
        if bad:
            raise VaultFormatError(f"{where}: field(s) {', '.join(bad)} missing or not text")
        secrets = {f: Secret(entry[f]) for f in FIELDS if isinstance(entry.get(f), str)}
        out[name] = Credential(name, entry["venue"], secrets, "store")
    return out


# -- lookup ------------------------------------------------------------------------------


def lookup(home: RbtHome, name: str, *, password: Secret | None = None) -> Credential:
    """Credential ``name``: the environment first, then the store under ``home``.

    :param password: the store password (default: ``RBT_CREDENTIALS_PASSWORD`` or a prompt),
        asked only when the store must be opened.
    :raises ConfigError: no credential of that name, naming how to add one.
    """
    validate_name(name)
    found = from_env(name)
    if found is None and home.credentials.exists():
        store = CredentialStore.load(home.credentials, password or store_password())
        found = store.entries.get(name)
    if found is not None:
        # the name and where it came from, never a value (reliability.md B.2.4)
        _log.info("credentials %r (%s) read from the %s", name, found.venue, found.source)
        return found
    path = home.credentials
    env = env_names(name)
    raise ConfigError(
        f"no credentials named {name!r} (in {path} or the environment): add them with "
        f"`rbt credentials add {name} --venue VENUE`, or set {env['apiKey']} and "
        f"{env['secret']}"
    )


def resolve(home: RbtHome, name: str, *, password: Secret | None = None) -> dict[str, Secret]:
    """The secrets of credential ``name``: ``apiKey``, ``secret`` and maybe ``password``.

    Environment variables first, then the encrypted store (see the module docstring).

    :raises ConfigError: no credential of that name, naming how to add one.
    :raises rbt.security.vault.VaultError: the store cannot be opened (fails closed).
    """
    return dict(lookup(home, name, password=password).secrets)
