"""Types of the optional C module ``rbt.kernel._native`` (``_native.c``)."""

from typing import Any

class SlotBuilder:
    """``SlotBuilder(cls, names)(*values)``: a new ``cls`` with its slots ``names`` set."""

    def __init__(self, cls: type, names: tuple[str, ...]) -> None: ...
    def __call__(self, *values: Any) -> Any: ...
    def replace_tail(self, obj: Any, /, *values: Any) -> Any:
        """``obj`` copied with its last ``len(values)`` slots replaced (None keeps one)."""

def hash_by_slot(cls: type, name: str, /) -> None:
    """Instances of exactly ``cls`` hash as a ``__hash__`` returning slot ``name`` would."""
