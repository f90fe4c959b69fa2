"""Exception and warning hierarchy of RustyBT.

Order rejections and failed checks are *values* (events, results), never
exceptions. Exceptions are for misuse, bad input and broken invariants.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "BrokerConnectionError",
    "BrokerError",
    "ConfigError",
    "DataError",
    "DataUnavailableError",
    "EventOrderError",
    "InvalidTransitionError",
    "LedgerInvariantError",
    "OrderOutcomeUnknownError",
    "PluginConflictError",
    "PluginError",
    "PluginLoadError",
    "RateLimitedError",
    "RbtDeprecationWarning",
    "RbtError",
    "RbtWarning",
    "SchemaError",
    "UnknownPluginError",
]


class RbtError(Exception):
    """Base class of every error raised by RustyBT."""


class ConfigError(RbtError, ValueError):
    """A configuration value or argument is invalid."""


class PluginError(RbtError):
    """A plugin could not be loaded or used."""


class PluginLoadError(PluginError):
    """An external plugin failed to import or register.

    :param name: entry-point name of the plugin.
    :param dist: distribution that declared it.
    :param version: that distribution's version.
    """

    def __init__(self, name: str, dist: str, version: str, reason: str) -> None:
        self.name = name
        self.dist = dist
        self.version = version
        self.reason = reason
        super().__init__(f"plugin {name!r} from {dist} {version} failed to load: {reason}")


class PluginConflictError(PluginError):
    """Two plugins claim the same entry-point or provider name."""


class UnknownPluginError(PluginError, LookupError):
    """A provider name is not registered; the message lists the valid ones."""


class DataError(RbtError):
    """Market or reference data is missing, malformed or inconsistent."""


class SchemaError(DataError, ValueError):
    """Input does not have the expected shape; the message names file, line and field."""


class DataUnavailableError(DataError):
    """The requested data does not exist (unknown bundle, dates outside it, ...)."""


class BrokerError(RbtError):
    """A broker could not carry out a request.

    :param retryable: whether repeating a *read* may succeed.
    :param venue: provider name of the broker.
    """

    retryable: bool = False

    def __init__(self, message: str, *, venue: str = "") -> None:
        self.venue = venue
        super().__init__(message)


class BrokerConnectionError(BrokerError, ConnectionError):
    """The connection to the venue failed or dropped."""

    retryable = True


class OrderOutcomeUnknownError(BrokerError, ConnectionError):
    """A submit timed out or failed in transit: the venue may or may not have the order.

    Never retried blindly; the live session looks the order up by client id.
    """

    retryable = False


class RateLimitedError(BrokerError):
    """The venue asked us to slow down."""

    retryable = True

    def __init__(self, message: str, *, venue: str = "", retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, venue=venue)


class AuthenticationError(BrokerError):
    """Credentials were refused. Fatal: never retried."""


class InvalidTransitionError(RbtError):
    """An order event is not allowed in the order's current state."""


class EventOrderError(RbtError):
    """An event was published out of the bus's documented total order."""


class LedgerInvariantError(RbtError):
    """The ledger's books do not balance. Fail fast; never caught inside the kernel."""


class RbtWarning(UserWarning):
    """Base class of RustyBT's warnings."""


class RbtDeprecationWarning(RbtWarning, DeprecationWarning):
    """A feature will be removed in a future release."""
