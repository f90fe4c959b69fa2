"""docs/hooks.md documents every hook, each under a heading with its full, current signature."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rbt.kernel import hookspecs

HOOKS_MD = Path(__file__).resolve().parents[1] / "docs" / "hooks.md"
HOOK_NAMES = sorted(name for name in dir(hookspecs) if name.startswith("rbt_"))
HEADING = re.compile(r"^### `(?P<signature>(?P<name>rbt_\w+)\((?P<args>[^)]*)\).*)`\s*$", re.M)


def _signature(function: Callable[..., Any]) -> str:
    # annotations are strings (from __future__ import annotations): render them verbatim
    sig = inspect.signature(function)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{function.__name__}({params}) -> {sig.return_annotation}"


def _headings() -> dict[str, re.Match[str]]:
    return {m["name"]: m for m in HEADING.finditer(HOOKS_MD.read_text(encoding="utf-8"))}


def test_every_hook_spec_is_exported() -> None:
    assert sorted(n for n in hookspecs.__all__ if n.startswith("rbt_")) == HOOK_NAMES


@pytest.mark.parametrize("name", HOOK_NAMES)
def test_every_hook_has_a_section_headed_by_its_full_signature(name: str) -> None:
    headings = _headings()
    assert name in headings, f"docs/hooks.md has no section for {name}"
    function = getattr(hookspecs, name)
    documented = headings[name]
    for argument in inspect.signature(function).parameters:
        assert re.search(rf"\b{argument}\b", documented["args"]), (
            f"docs/hooks.md: the heading of {name} lacks the argument {argument!r}"
        )
    assert documented["signature"] == _signature(function), (
        f"docs/hooks.md: the heading of {name} is out of date; expected `{_signature(function)}`"
    )


def test_every_documented_argument_is_described() -> None:
    text = HOOKS_MD.read_text(encoding="utf-8")
    sections = re.split(r"^### ", text, flags=re.M)
    for name in HOOK_NAMES:
        (section,) = [s for s in sections if s.startswith(f"`{name}(")]
        for argument in inspect.signature(getattr(hookspecs, name)).parameters:
            assert f"**`{argument}`**" in section, (
                f"docs/hooks.md: the section of {name} does not describe {argument!r}"
            )


def test_no_section_documents_a_hook_that_does_not_exist() -> None:
    unknown = sorted(set(_headings()) - set(HOOK_NAMES))
    assert unknown == [], f"docs/hooks.md documents hooks that do not exist: {unknown}"


def test_firstresult_and_historic_hooks_say_so() -> None:
    text = HOOKS_MD.read_text(encoding="utf-8")
    for name in HOOK_NAMES:
        options = getattr(hookspecs, name).rbt_spec
        (section,) = [s for s in re.split(r"^### ", text, flags=re.M) if s.startswith(f"`{name}(")]
        for flag in ("firstresult", "historic"):
            if options[flag]:
                assert f"*{flag}:" in section or f"; {flag}:" in section, (
                    f"docs/hooks.md: {name} is {flag}; its section must say so"
                )
