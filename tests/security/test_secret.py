"""The kernel's :class:`Secret`: never printed, never pickled, registered for redaction."""

from __future__ import annotations

import pickle

import pytest

from rbt.kernel.secrets import MASK, Secret, add_secret_listener
from rbt.security.redaction import redact

VALUE = "secret-type-canary-31337"


def test_a_secret_never_prints() -> None:
    secret = Secret(VALUE)
    for text in (str(secret), repr(secret), f"{secret}", f"{secret:>40}", "%s" % (secret,)):  # noqa: UP031
        assert VALUE not in text
        assert MASK in text
    assert VALUE not in repr({"apiKey": secret})
    assert secret.reveal() == VALUE


def test_a_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(VALUE))


def test_equality_compares_values_without_showing_them() -> None:
    assert Secret(VALUE) == Secret(VALUE)
    assert Secret(VALUE) != Secret(VALUE + "x")
    assert Secret(VALUE) != VALUE  # never equal to the plain string
    assert not Secret("")
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


def test_listeners_hear_every_new_secret_once_registered() -> None:
    heard: list[str] = []
    add_secret_listener(heard.append)
    add_secret_listener(heard.append)  # idempotent
    Secret("listener-canary-1")
    assert heard.count("listener-canary-1") == 1
    # the redaction filter is such a listener: the value is masked from now on
    assert redact("value listener-canary-1 end") == f"value {MASK} end"


def test_a_new_listener_hears_the_secrets_already_alive() -> None:
    alive = Secret("made-before-the-listener-1")
    heard: list[str] = []
    add_secret_listener(heard.append)
    assert "made-before-the-listener-1" in heard
    assert alive.reveal() == "made-before-the-listener-1"
