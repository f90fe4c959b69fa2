"""The log redaction filter: registered values, credential shapes, exceptions, handlers."""

from __future__ import annotations

import base64
import io
import logging
import urllib.parse
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rbt.kernel.secrets import MASK, Secret
from rbt.security.redaction import (
    MIN_SECRET_LENGTH,
    RedactionFilter,
    SecretRegistry,
    install_redaction,
    redact,
    redact_record,
    register_secret,
)
from rbt.security.vendors import VendorVerbosityError, assert_quiet, quiet_vendor_sdks


def _record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("t", logging.INFO, __file__, 1, msg, args or None, exc_info)


def _formatted(record: logging.LogRecord) -> str:
    return logging.Formatter("%(message)s").format(record)


secrets = st.text(min_size=MIN_SECRET_LENGTH, max_size=40).filter(lambda s: set(s) != {"*"})


@settings(max_examples=300, deadline=None)
@given(value=secrets, prefix=st.text(max_size=30), suffix=st.text(max_size=30))
def test_a_registered_value_never_survives_in_a_message(
    value: str, prefix: str, suffix: str
) -> None:
    # a registry of its own: random values must not mask other tests' logs
    registry = SecretRegistry()
    registry.add(value)
    record = _record(prefix + value + suffix)
    assert RedactionFilter(registry=registry).filter(record)  # masks, never drops
    assert value not in _formatted(record)


@settings(max_examples=150, deadline=None)
@given(value=secrets, prefix=st.text(max_size=20))
def test_a_registered_value_never_survives_in_args_or_exceptions(value: str, prefix: str) -> None:
    registry = SecretRegistry()
    registry.add(value)
    try:
        raise RuntimeError(f"GET https://x/api?{prefix}{value}")
    except RuntimeError as exc:
        record = _record("failed: %s (%r)", prefix + value, {"k": value}, exc=exc)
    RedactionFilter(registry=registry).filter(record)
    text = _formatted(record)
    assert value not in text
    assert "RuntimeError" in text  # the traceback is kept, masked


@settings(max_examples=100, deadline=None)
@given(values=st.lists(secrets, min_size=2, max_size=5), glue=st.text(max_size=5))
def test_several_overlapping_values_are_all_masked(values: list[str], glue: str) -> None:
    registry = SecretRegistry()
    for value in values:
        registry.add(value)
    out = redact(glue.join(values + values[::-1]), registry)
    for value in values:
        assert value not in out


def test_a_secret_is_registered_when_it_is_created() -> None:
    Secret("created-not-registered-by-hand")
    assert redact("x created-not-registered-by-hand y") == f"x {MASK} y"


def test_encoded_forms_are_masked_too() -> None:
    value = "canary+secret/=42"
    register_secret(value)
    raw = value.encode()
    forms = [
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        raw.hex(),
        raw.hex().upper(),
        urllib.parse.quote(value, safe=""),
        urllib.parse.quote_plus(value),
    ]
    for form in forms:
        assert form not in redact(f"<{form}>"), form


def test_short_values_are_not_registered() -> None:
    register_secret("abc")
    assert redact("abc") == "abc"


@pytest.mark.parametrize(
    ("text", "kept", "hidden"),
    [
        (
            "GET /api/v3/order?symbol=BTCUSDT&timestamp=1&signature=9f8e7d6c",
            "symbol=BTCUSDT&timestamp=1&signature=",
            "9f8e7d6c",
        ),
        ("POST apiKey=AKIA1234&x=1", "apiKey=", "AKIA1234"),
        ("headers {'X-MBX-APIKEY': 'vmPUZE6mv9SD5V'}", "'X-MBX-APIKEY': '", "vmPUZE6mv9SD5V"),
        ("X-MBX-APIKEY: vmPUZE6mv9SD5V\r\nHost: x", "Host: x", "vmPUZE6mv9SD5V"),
        ("'X-BAPI-SIGN': 'abcdef0123'", "X-BAPI-SIGN", "abcdef0123"),
        ("Authorization: Bearer eyJhbGciOi.xyz", "Authorization: Bearer ", "eyJhbGciOi.xyz"),
        ('{"apiKey": "k-123456", "venue": "binance"}', '"venue": "binance"', "k-123456"),
        ("{'secret': 's-9999999'}", "'secret': '", "s-9999999"),
        ("password=hunter2 ok", " ok", "hunter2"),
        ("key 0x" + "ab" * 32 + " end", " end", "ab" * 32),
    ],
)
def test_credential_shapes_are_masked_whatever_the_value(text: str, kept: str, hidden: str) -> None:
    out = redact(text)
    assert hidden not in out
    assert kept in out
    assert MASK in out


def test_a_sha256_stays_readable() -> None:
    digest = "a" * 64
    assert redact(f"bundle hash {digest}") == f"bundle hash {digest}"


@pytest.fixture
def logger_with_stream() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    vendor = logging.getLogger("ccxt.base.exchange")
    vendor.addHandler(handler)
    old = vendor.level
    vendor.setLevel(logging.DEBUG)
    try:
        yield vendor, stream
    finally:
        vendor.removeHandler(handler)
        vendor.setLevel(old)


def test_install_covers_vendor_handlers_and_the_last_resort(
    logger_with_stream: tuple[logging.Logger, io.StringIO],
) -> None:
    vendor, stream = logger_with_stream
    handler = vendor.handlers[-1]
    filt = install_redaction()
    assert filt in handler.filters
    assert logging.lastResort is not None
    assert filt in logging.lastResort.filters
    assert install_redaction() is filt  # idempotent: one filter, added once
    assert handler.filters.count(filt) == 1
    register_secret("vendor-secret-55")
    vendor.debug("request headers %s", {"X-MBX-APIKEY": "vendor-secret-55"})
    assert "vendor-secret-55" not in stream.getvalue()
    assert "X-MBX-APIKEY" in stream.getvalue()


def test_records_made_after_install_are_masked_for_new_handlers() -> None:
    install_redaction()
    stream = io.StringIO()
    late = logging.StreamHandler(stream)  # added after install, without the filter
    logger = logging.getLogger("rbt.tests.late")
    logger.addHandler(late)
    logger.setLevel(logging.INFO)
    try:
        register_secret("late-handler-secret")
        try:
            raise ValueError("boom late-handler-secret")
        except ValueError:
            logger.exception("while signing %s", "late-handler-secret")
    finally:
        logger.removeHandler(late)
    out = stream.getvalue()
    assert "late-handler-secret" not in out
    assert "ValueError: boom" in out
    assert "while signing" in out


def test_a_broken_format_string_is_still_masked() -> None:
    register_secret("broken-format-secret")
    record = redact_record(_record("%d items", "broken-format-secret"))
    assert "broken-format-secret" not in _formatted(record)


class _Client:
    def __init__(self) -> None:
        self.verbose = True
        self.log_requests = True

    def debug(self) -> str:  # a method named like a flag is left alone
        return "method"


def test_quiet_vendor_sdks_turns_flags_and_loggers_down() -> None:
    ccxt_logger = logging.getLogger("ccxt")
    old = ccxt_logger.level
    ccxt_logger.setLevel(logging.DEBUG)
    try:
        client = quiet_vendor_sdks(_Client())
        assert client is not None
        assert (client.verbose, client.log_requests, client.debug()) == (False, False, "method")
        assert ccxt_logger.getEffectiveLevel() == logging.WARNING
    finally:
        ccxt_logger.setLevel(old)
    loud = _Client()
    with pytest.raises(VendorVerbosityError, match="verbose, log_requests"):
        assert_quiet(loud)


def test_quiet_vendor_sdks_on_the_real_ccxt_clients() -> None:
    ccxt = pytest.importorskip("ccxt")
    exchange = ccxt.binance({"verbose": True})
    assert quiet_vendor_sdks(exchange) is exchange
    assert exchange.verbose is False


url_values = st.text(
    alphabet=st.characters(codec="ascii", categories=["L", "N"], include_characters="-_.~%+/"),
    min_size=8,
    max_size=64,
)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(["apiKey", "api_key", "signature", "secret", "password", "token"]),
    value=url_values,
    before=st.sampled_from(["GET /api/v3/order?", "POST body: a=1&", "url=https://x/?"]),
)
def test_any_credential_parameter_value_is_masked(name: str, value: str, before: str) -> None:
    # no registry: the shape alone hides the value, whatever it is
    out = redact(f"{before}{name}={value}&recvWindow=5000", SecretRegistry())
    assert f"{name}={MASK}&recvWindow=5000" in out


@settings(max_examples=200, deadline=None)
@given(
    header=st.sampled_from(["X-MBX-APIKEY", "x-mbx-apikey", "X-BAPI-SIGN", "Authorization"]),
    value=url_values,
    quote=st.sampled_from(["'", '"']),
)
def test_any_credential_header_value_is_masked(header: str, value: str, quote: str) -> None:
    text = f"headers {{{quote}{header}{quote}: {quote}{value}{quote}, {quote}Host{quote}: 1}}"
    out = redact(text, SecretRegistry())
    assert f"{quote}{header}{quote}: {quote}{MASK}{quote}" in out
    assert f"{quote}Host{quote}: 1" in out
