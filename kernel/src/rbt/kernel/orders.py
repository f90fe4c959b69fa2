"""The one order state machine, shared by simulated, paper and live brokers.

The transitions are a literal table (:data:`TRANSITIONS`) that tests enumerate.
Real venues deliver fills late: a fill after a cancel request or after the
cancel itself is legal (a late fill), and a fill may arrive before the venue's
acknowledgement.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from rbt.kernel.errors import InvalidTransitionError
from rbt.kernel.model import OrderStatus

__all__ = ["TERMINAL", "TRANSITIONS", "OrderEventKind", "next_status"]


class OrderEventKind(enum.Enum):
    """What can happen to an order."""

    SUBMIT = "submit"  # the intent left for the venue
    ACCEPT = "accept"  # the venue acknowledged it
    DENY = "deny"  # a pre-trade check refused it before the network
    REJECT = "reject"  # the venue refused it
    PARTIAL_FILL = "partial_fill"
    FILL = "fill"  # the order is now completely filled
    CANCEL_REQUEST = "cancel_request"
    CANCEL = "cancel"
    EXPIRE = "expire"


S = OrderStatus
E = OrderEventKind

#: (state, event) -> next state. Anything absent is an invalid transition.
TRANSITIONS: Mapping[tuple[OrderStatus, OrderEventKind], OrderStatus] = MappingProxyType(
    {
        (S.NEW, E.SUBMIT): S.SUBMITTED,
        (S.NEW, E.DENY): S.DENIED,
        (S.SUBMITTED, E.ACCEPT): S.ACCEPTED,
        (S.SUBMITTED, E.REJECT): S.REJECTED,
        (S.SUBMITTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,  # fill before the ack
        (S.SUBMITTED, E.FILL): S.FILLED,
        (S.SUBMITTED, E.CANCEL_REQUEST): S.PENDING_CANCEL,
        (S.SUBMITTED, E.CANCEL): S.CANCELLED,
        (S.SUBMITTED, E.EXPIRE): S.EXPIRED,
        (S.ACCEPTED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
        (S.ACCEPTED, E.FILL): S.FILLED,
        (S.ACCEPTED, E.CANCEL_REQUEST): S.PENDING_CANCEL,
        (S.ACCEPTED, E.CANCEL): S.CANCELLED,
        (S.ACCEPTED, E.EXPIRE): S.EXPIRED,
        (S.PARTIALLY_FILLED, E.PARTIAL_FILL): S.PARTIALLY_FILLED,
        (S.PARTIALLY_FILLED, E.FILL): S.FILLED,
        (S.PARTIALLY_FILLED, E.CANCEL_REQUEST): S.PENDING_CANCEL,
        (S.PARTIALLY_FILLED, E.CANCEL): S.CANCELLED,
        (S.PARTIALLY_FILLED, E.EXPIRE): S.EXPIRED,
        (S.PENDING_CANCEL, E.PARTIAL_FILL): S.PENDING_CANCEL,
        (S.PENDING_CANCEL, E.FILL): S.FILLED,  # the fill won the race
        (S.PENDING_CANCEL, E.CANCEL): S.CANCELLED,
        (S.PENDING_CANCEL, E.REJECT): S.PARTIALLY_FILLED,  # cancel refused: still working
        (S.PENDING_CANCEL, E.EXPIRE): S.EXPIRED,
        # late fills after the order already ended
        (S.CANCELLED, E.PARTIAL_FILL): S.CANCELLED,
        (S.CANCELLED, E.FILL): S.FILLED,
        (S.EXPIRED, E.PARTIAL_FILL): S.EXPIRED,
        (S.EXPIRED, E.FILL): S.FILLED,
    }
)
del S, E

#: States no event leaves, except the late fills listed in the table.
TERMINAL = frozenset(
    {
        OrderStatus.FILLED,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
        OrderStatus.EXPIRED,
        OrderStatus.DENIED,
    }
)


def next_status(status: OrderStatus, event: OrderEventKind) -> OrderStatus:
    """Return the state after ``event``.

    :raises InvalidTransitionError: when the table has no such transition.
    """
    try:
        return TRANSITIONS[(status, event)]
    except KeyError:
        allowed = sorted(e.value for (s, e) in TRANSITIONS if s is status)
        raise InvalidTransitionError(
            f"order event {event.value!r} is not allowed in state {status.value!r}; "
            f"allowed: {', '.join(allowed) or 'none'}"
        ) from None
