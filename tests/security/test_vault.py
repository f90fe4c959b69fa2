"""The encrypted file format: round trip, fresh nonces, and failing closed."""

from __future__ import annotations

import base64
import json

import pytest

from rbt.kernel.secrets import Secret
from rbt.security.vault import (
    Argon2idParams,
    ScryptParams,
    VaultAuthError,
    VaultFormatError,
    argon2_available,
    decrypt,
    default_kdf,
    derive_key,
    encrypt,
)

# the cheapest parameters the reader accepts: the tests exercise the format, not the cost
FAST_ARGON = Argon2idParams(memory_cost=19456, iterations=2, lanes=1)
FAST_SCRYPT = ScryptParams(n=2**14, r=8, p=1)
PASSWORD = Secret("correct horse battery staple")
PAYLOAD = b'{"entries": {"main": {"venue": "binance", "apiKey": "K", "secret": "S"}}}'


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return encrypt(PAYLOAD, derive_key(PASSWORD, FAST_ARGON))


def _edit(data: bytes, **changes: object) -> bytes:
    doc = json.loads(data)
    for path, value in changes.items():
        target = doc
        *parents, leaf = path.split("__")
        for p in parents:
            target = target[p]
        target[leaf] = value
    return json.dumps(doc).encode()


def test_default_kdf_is_argon2id_with_the_recommended_cost() -> None:
    assert argon2_available()
    assert default_kdf() == Argon2idParams(memory_cost=65536, iterations=3, lanes=4)


@pytest.mark.parametrize("kdf", [FAST_ARGON, FAST_SCRYPT], ids=["argon2id", "scrypt"])
def test_round_trip_records_the_kdf_parameters(kdf: Argon2idParams | ScryptParams) -> None:
    data = encrypt(PAYLOAD, derive_key(PASSWORD, kdf))
    doc = json.loads(data)
    assert doc["kdf"]["name"] == kdf.name
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 16
    assert len(base64.b64decode(doc["nonce"])) == 12
    assert PAYLOAD not in data
    plaintext, key = decrypt(data, PASSWORD, source="store")
    assert plaintext == PAYLOAD
    assert key.kdf == kdf


def test_every_write_uses_a_fresh_nonce_and_every_file_a_fresh_salt() -> None:
    key = derive_key(PASSWORD, FAST_ARGON)
    first, second = (json.loads(encrypt(PAYLOAD, key)) for _ in range(2))
    assert first["nonce"] != second["nonce"]
    assert first["ciphertext"] != second["ciphertext"]
    assert derive_key(PASSWORD, FAST_ARGON).salt != key.salt


def test_a_wrong_password_fails_closed(sealed: bytes) -> None:
    with pytest.raises(VaultAuthError) as failed:
        decrypt(sealed, Secret("correct horse battery stapler"), source="/h/credentials")
    message = str(failed.value)
    assert "/h/credentials" in message
    assert "wrong password, or the file was modified" in message
    assert "stapler" not in message


@pytest.mark.parametrize("position", [0, 17, -1], ids=["first", "middle", "tag"])
def test_a_flipped_ciphertext_bit_fails_closed(sealed: bytes, position: int) -> None:
    raw = bytearray(base64.b64decode(json.loads(sealed)["ciphertext"]))
    raw[position] ^= 0x01
    tampered = _edit(sealed, ciphertext=base64.b64encode(bytes(raw)).decode())
    with pytest.raises(VaultAuthError):
        decrypt(tampered, PASSWORD, source="store")


@pytest.mark.parametrize(
    "change",
    [
        {"nonce": base64.b64encode(b"\x00" * 12).decode()},
        {"kdf__iterations": 3},  # a header change is authenticated too
        {"kdf__salt": base64.b64encode(b"\x01" * 16).decode()},
    ],
    ids=["nonce", "kdf-parameter", "salt"],
)
def test_a_changed_header_fails_closed(sealed: bytes, change: dict[str, object]) -> None:
    with pytest.raises(VaultAuthError):
        decrypt(_edit(sealed, **change), PASSWORD, source="store")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"format": "zip"}, "field 'format': expected 'rbt-credentials'"),
        ({"version": 9}, "field 'version': expected 1, found 9"),
        ({"cipher": "aes-128-cbc"}, "field 'cipher': expected 'aes-256-gcm'"),
        ({"kdf__name": "md5"}, "field 'kdf.name'"),
        ({"kdf__memory_cost": 8}, "field 'kdf.memory_cost': expected an integer in [19456"),
        ({"kdf__iterations": "3"}, "field 'kdf.iterations'"),
        ({"nonce": "!!"}, "field 'nonce': invalid base64"),
        ({"nonce": base64.b64encode(b"x" * 8).decode()}, "field 'nonce': expected 12 bytes"),
        ({"kdf__salt": 7}, "field 'kdf.salt': expected a base64 string"),
    ],
)
def test_a_malformed_file_names_the_field(
    sealed: bytes, change: dict[str, object], expected: str
) -> None:
    with pytest.raises(VaultFormatError) as failed:
        decrypt(_edit(sealed, **change), PASSWORD, source="/h/credentials")
    assert str(failed.value).startswith("/h/credentials: ")
    assert expected in str(failed.value)


def test_scrypt_n_must_be_a_power_of_two() -> None:
    data = encrypt(PAYLOAD, derive_key(PASSWORD, FAST_SCRYPT))
    with pytest.raises(VaultFormatError, match=r"'kdf\.n': expected a power of two"):
        decrypt(_edit(data, kdf__n=2**14 + 1), PASSWORD, source="s")


@pytest.mark.parametrize("data", [b"", b"\xff\xfe", b"[1, 2]", b'{"format": "rbt-credentials"'])
def test_not_a_vault_at_all(data: bytes) -> None:
    with pytest.raises(VaultFormatError, match=r"^s: "):
        decrypt(data, PASSWORD, source="s")


def test_the_derived_key_never_prints() -> None:
    key = derive_key(PASSWORD, FAST_ARGON)
    assert key.key.hex() not in repr(key)
    assert "salt" not in repr(key)
