"""One choke point that keeps secrets out of logs (reliability.md B.2.3).

:class:`RedactionFilter` masks, in a log record's message, arguments, exception text and
stack text:

* every **registered** secret value, with its base64, hex and URL-encoded forms. Every
  :class:`~rbt.kernel.secrets.Secret` is registered the moment it is created (this module
  listens to the kernel), and :func:`register_secret` registers any other value;
* well-known shapes whatever their value: ``apiKey=…``, ``signature=…``, ``secret=…``,
  ``X-MBX-APIKEY: …``, ``X-BAPI-*``, ``Authorization: …``, JSON ``"secret": "…"`` and
  ``0x``-prefixed 64-digit hex private keys.

:func:`install_redaction` puts the filter on every handler of the root logger and of the
vendor loggers (:data:`VENDOR_LOGGERS`), on :data:`logging.lastResort`, and wraps the log
record factory so that handlers added later see masked records too. The CLI calls it
before any command runs; the live engine calls it again at start (it is idempotent).

:func:`redact` is the same masking for text that is not a log record: an exception message
about to be stored in the database or the audit log (ccxt puts signed URLs in them).

Values shorter than :data:`MIN_SECRET_LENGTH` characters are not registered (masking
every ``"abc"`` in every log line would hide the logs, not the secret).
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import urllib.parse
from collections.abc import Callable, Iterable

from rbt.kernel.secrets import MASK, add_secret_listener

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "VENDOR_LOGGERS",
    "RedactionFilter",
    "SecretRegistry",
    "install_redaction",
    "redact",
    "register_secret",
]

MIN_SECRET_LENGTH = 4

#: loggers of the SDKs our adapters use; their own handlers get the filter too
VENDOR_LOGGERS: tuple[str, ...] = (
    "ccxt",
    "ccxt.base.exchange",
    "aiohttp",
    "aiohttp.client",
    "urllib3",
    "requests",
    "websockets",
    "websockets.client",
    "ib_async",
    "ib_insync",
    "pybit",
    "binance",
    "asyncio",
)

# Shapes that carry a credential whatever its value. Group 1 is kept, the rest is masked.
_PATTERNS: tuple[re.Pattern[str], ...] = (
    # query strings and form bodies: apiKey=..., &signature=...
    re.compile(
        r"(?i)((?:api[_-]?key|apikey|signature|secret|password|passphrase|passwd|"
        r"access[_-]?token|token|private[_-]?key)=)[^&\s'\"]+"
    ),
    # headers (raw or as a dict repr): X-MBX-APIKEY: k, 'Authorization': 'Bearer t'
    re.compile(
        r"(?i)([\"']?(?:x-mbx-apikey|x-bapi-[a-z-]+|x-api-key|ok-access-[a-z-]+|"
        r"authorization|cookie)[\"']?\s*[:=]\s*[\"']?(?:bearer\s+|basic\s+)?)[^\"'\s,}]+"
    ),
    # JSON / dict reprs: "secret": "...", 'apiKey': '...'
    re.compile(
        r"(?i)([\"'](?:api[_-]?key|apikey|secret|password|passphrase|signature|"
        r"private[_-]?key|token)[\"']\s*:\s*[\"'])[^\"']+"
    ),
    # hex private keys (EVM wallets); bare 64-digit hex is a sha256 and stays readable
    re.compile(r"()\b0x[0-9a-fA-F]{64}\b"),
)


class SecretRegistry:
    """Secret values and their encoded forms, compiled into one alternation.

    The process has one (:func:`register_secret` fills it); tests make their own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        forms = {form for form in _encoded_forms(value) if _maskable(form)}
        with self._lock:
            if forms <= self._forms:
                return
            self._forms |= forms
            # longest first, so a secret that contains another is masked whole
            ordered = sorted(self._forms, key=lambda f: (-len(f), f))
            self._pattern = re.compile("|".join(map(re.escape, ordered)))

    def mask(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        # A value may reappear across a mask's edge ("**ab" in "**ab"+"ab" -> "****"+"ab");
        # each pass removes non-mask characters, so this ends.
        while pattern.search(text):
            text = pattern.sub(MASK, text)
        return text


def _encoded_forms(value: str) -> Iterable[str]:
    raw = value.encode("utf-8")
    yield value
    for encoded in (base64.b64encode(raw), base64.urlsafe_b64encode(raw)):
        text = encoded.decode("ascii")
        yield text
        yield text.rstrip("=")
    yield raw.hex()
    yield raw.hex().upper()
    yield urllib.parse.quote(value, safe="")
    yield urllib.parse.quote_plus(value, safe="")


def _maskable(form: str) -> bool:
    # a value made only of the mask's character would be found again in every mask
    return len(form) >= MIN_SECRET_LENGTH and set(form) != set(MASK)


_registry = SecretRegistry()


def register_secret(value: str) -> None:
    """Mask ``value`` (and its encoded forms) in every log record from now on."""
    _registry.add(value)


def redact(text: str, registry: SecretRegistry | None = None) -> str:
    """``text`` with every registered secret and every credential-shaped value masked."""
    registry = _registry if registry is None else registry
    text = registry.mask(text)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return registry.mask(text)


class RedactionFilter(logging.Filter):
    """Masks secrets in a record in place; never drops a record."""

    def __init__(self, name: str = "", registry: SecretRegistry | None = None) -> None:
        super().__init__(name)
        self.registry = registry

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record, self.registry)
        return True


def redact_record(
    record: logging.LogRecord, registry: SecretRegistry | None = None
) -> logging.LogRecord:
    """Mask ``record``'s message (with its arguments merged), exception and stack text."""
    if getattr(record, "_rbt_redacted", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: keep its parts visible, masked
        message = f"{record.msg!r} % {record.args!r}"
    record.msg = redact(message, registry)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text, registry)
    # handlers that render exc_info themselves would bypass the masked text
    record.exc_info = None
    if record.stack_info:
        record.stack_info = redact(record.stack_info, registry)
    record._rbt_redacted = True
    return record


_FILTER = RedactionFilter("rbt.security.redaction")
_install_lock = threading.Lock()
_factory_installed = False


def install_redaction(loggers: Iterable[str] = VENDOR_LOGGERS) -> RedactionFilter:
    """Put the one :class:`RedactionFilter` on every handler of the root and vendor loggers.

    Idempotent; call it again after adding handlers (records made after the first call are
    masked at creation anyway, through the record factory).
    """
    global _factory_installed
    with _install_lock:
        targets = [logging.getLogger(), *(logging.getLogger(name) for name in loggers)]
        handlers = [h for logger in targets for h in logger.handlers]
        if logging.lastResort is not None:
            handlers.append(logging.lastResort)
        for handler in handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        if not _factory_installed:
            logging.setLogRecordFactory(_masking_factory(logging.getLogRecordFactory()))
            _factory_installed = True
    return _FILTER


def _masking_factory(
    inner: Callable[..., logging.LogRecord],
) -> Callable[..., logging.LogRecord]:
    def make_record(*args: object, **kwargs: object) -> logging.LogRecord:
        return redact_record(inner(*args, **kwargs))

    return make_record


add_secret_listener(register_secret)
