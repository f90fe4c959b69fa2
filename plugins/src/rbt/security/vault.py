"""The encrypted file format of the credential store (reliability.md B.2).

A vault is one UTF-8 JSON object::

    {"format": "rbt-credentials", "version": 1,
     "kdf": {"name": "argon2id", "salt": "<base64>", "memory_cost": 65536,
             "iterations": 3, "lanes": 4},
     "cipher": "aes-256-gcm", "nonce": "<base64>", "ciphertext": "<base64>"}

* the key is derived from the password by **Argon2id** (64 MiB, t=3, 4 lanes) when the
  installed ``cryptography`` has it, else **scrypt** (n=2^17, r=8, p=1); the salt is random
  per file and the parameters are recorded, so older files stay readable;
* the payload is sealed with **AES-256-GCM** under a fresh random 96-bit nonce on every
  write; the header (format, version, KDF, cipher) is the associated data, so a changed
  parameter fails authentication just like a changed ciphertext byte;
* the whole payload is one ciphertext, so entries cannot be swapped or replayed one by one.

A wrong password and a tampered file give the same :class:`VaultAuthError`: nothing tells
them apart (that would help an attacker) and there is no plaintext fallback.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import unicodedata
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from rbt.kernel.errors import RbtError
from rbt.kernel.secrets import Secret

__all__ = [
    "FORMAT",
    "VERSION",
    "Argon2idParams",
    "KdfParams",
    "ScryptParams",
    "VaultAuthError",
    "VaultError",
    "VaultFormatError",
    "VaultKey",
    "argon2_available",
    "decrypt",
    "default_kdf",
    "derive_key",
    "encrypt",
]

FORMAT = "rbt-credentials"
VERSION = 1
CIPHER = "aes-256-gcm"
KEY_BYTES = 32
NONCE_BYTES = 12
SALT_BYTES = 16


class VaultError(RbtError):
    """The credential store cannot be used."""


class VaultFormatError(VaultError):
    """The file is not a credential store this version can read (names file and field)."""


class VaultAuthError(VaultError):
    """Wrong password, or the file was modified: authentication failed (fails closed)."""


@attrs.frozen
class Argon2idParams:
    """Argon2id cost: ``memory_cost`` in KiB, ``iterations`` (t), ``lanes`` (p)."""

    memory_cost: int = 65536
    iterations: int = 3
    lanes: int = 4

    name: ClassVar[str] = "argon2id"
    #: accepted on read: at least OWASP's minimum, at most what a laptop can afford
    bounds: ClassVar[Mapping[str, tuple[int, int]]] = {
        "memory_cost": (19456, 4_194_304),
        "iterations": (2, 64),
        "lanes": (1, 64),
    }


@attrs.frozen
class ScryptParams:
    """scrypt cost: ``n`` (a power of two), ``r``, ``p``."""

    n: int = 2**17
    r: int = 8
    p: int = 1

    name: ClassVar[str] = "scrypt"
    bounds: ClassVar[Mapping[str, tuple[int, int]]] = {
        "n": (2**14, 2**22),
        "r": (8, 32),
        "p": (1, 16),
    }


KdfParams = Argon2idParams | ScryptParams


def argon2_available() -> bool:
    """Whether the installed ``cryptography`` ships Argon2id (44.0 and later do)."""
    try:
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id  # noqa: F401
    except ImportError:
        return False
    return True


def default_kdf() -> KdfParams:
    """Argon2id when available, else scrypt (reliability.md B.2)."""
    return Argon2idParams() if argon2_available() else ScryptParams()


@attrs.frozen
class VaultKey:
    """A derived AES key with the salt and parameters it came from (never printed)."""

    kdf: KdfParams
    salt: bytes = attrs.field(repr=False)
    key: bytes = attrs.field(repr=False)


def derive_key(password: Secret, kdf: KdfParams, salt: bytes | None = None) -> VaultKey:
    """Stretch ``password`` into an AES-256 key (a new random salt unless one is given)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    # NFC: the same password typed on two keyboards gives the same bytes
    secret = unicodedata.normalize("NFC", password.reveal()).encode("utf-8")
    if isinstance(kdf, Argon2idParams):
        from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

        key = Argon2id(
            salt=salt,
            length=KEY_BYTES,
            iterations=kdf.iterations,
            lanes=kdf.lanes,
            memory_cost=kdf.memory_cost,
        ).derive(secret)
    else:
        key = Scrypt(salt=salt, length=KEY_BYTES, n=kdf.n, r=kdf.r, p=kdf.p).derive(secret)
    return VaultKey(kdf=kdf, salt=salt, key=key)


def _header(key: VaultKey) -> dict[str, Any]:
    kdf = {"name": key.kdf.name, "salt": _b64(key.salt), **attrs.asdict(key.kdf)}
    return {"format": FORMAT, "version": VERSION, "kdf": kdf, "cipher": CIPHER}


def _aad(header: dict[str, Any]) -> bytes:
    # canonical bytes of what is authenticated but not encrypted
    return json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")


def encrypt(plaintext: bytes, key: VaultKey) -> bytes:
    """The vault file's bytes for ``plaintext`` (a fresh random nonce every call)."""
    header = _header(key)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(key.key).encrypt(nonce, plaintext, _aad(header))
    doc = {**header, "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")


def decrypt(data: bytes, password: Secret, *, source: str) -> tuple[bytes, VaultKey]:
    """The plaintext of vault ``data`` and the key that opened it.

    :raises VaultFormatError: the file is not a readable vault (names ``source`` and field).
    :raises VaultAuthError: wrong password or modified file.
    """
    doc = _parse(data, source)
    kdf = _kdf_params(doc["kdf"], source)
    salt = _b64_field(doc["kdf"], "salt", source, "kdf.salt")
    if not SALT_BYTES <= len(salt) <= 64:
        raise VaultFormatError(f"{source}: field 'kdf.salt': expected 16 to 64 bytes")
    nonce = _b64_field(doc, "nonce", source, "nonce")
    if len(nonce) != NONCE_BYTES:
        raise VaultFormatError(f"{source}: field 'nonce': expected {NONCE_BYTES} bytes")
    ciphertext = _b64_field(doc, "ciphertext", source, "ciphertext")
    key = derive_key(password, kdf, salt)
    header = {k: doc[k] for k in ("format", "version", "kdf", "cipher")}
    try:
        plaintext = AESGCM(key.key).decrypt(nonce, ciphertext, _aad(header))
    except InvalidTag:
        raise VaultAuthError(
            f"cannot open the credential store {source}: wrong password, or the file was "
            "modified (authentication failed; nothing was read)"
        ) from None
    return plaintext, key


def _parse(data: bytes, source: str) -> dict[str, Any]:
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VaultFormatError(
            f"{source}: not a credential store (expected a JSON object: {exc})"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise VaultFormatError(f"{source}: field 'format': expected {FORMAT!r}")
    if doc.get("version") != VERSION:
        raise VaultFormatError(
            f"{source}: field 'version': expected {VERSION}, found {doc.get('version')!r} "
            "(written by another version of rbt?)"
        )
    if doc.get("cipher") != CIPHER:
        raise VaultFormatError(f"{source}: field 'cipher': expected {CIPHER!r}")
    for name in ("kdf", "nonce", "ciphertext"):
        if name not in doc:
            raise VaultFormatError(f"{source}: field {name!r} is missing")
    if not isinstance(doc["kdf"], dict):
        raise VaultFormatError(f"{source}: field 'kdf': expected an object")
    return doc


def _kdf_params(kdf: dict[str, Any], source: str) -> KdfParams:
    kinds: dict[str, type[Argon2idParams] | type[ScryptParams]] = {
        "argon2id": Argon2idParams,
        "scrypt": ScryptParams,
    }
    kind = kinds.get(kdf.get("name"))  # type: ignore[arg-type]
    if kind is None:
        raise VaultFormatError(f"{source}: field 'kdf.name': expected 'argon2id' or 'scrypt'")
    if kind is Argon2idParams and not argon2_available():
        raise VaultFormatError(
            f"{source}: written with Argon2id, which this cryptography version lacks "
            "(install cryptography>=44)"
        )
    values: dict[str, int] = {}
    for name, (low, high) in kind.bounds.items():
        value = kdf.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise VaultFormatError(
                f"{source}: field 'kdf.{name}': expected an integer in [{low}, {high}], "
                f"found {value!r}"
            )
        values[name] = value
    if kind is ScryptParams and values["n"] & (values["n"] - 1):
        raise VaultFormatError(f"{source}: field 'kdf.n': expected a power of two")
    return kind(**values)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _b64_field(doc: dict[str, Any], name: str, source: str, path: str) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        raise VaultFormatError(f"{source}: field {path!r}: expected a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise VaultFormatError(f"{source}: field {path!r}: invalid base64") from None
