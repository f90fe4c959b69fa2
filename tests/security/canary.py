"""Canary credentials of scenario 14 and the search for them (shared by its tests)."""

from __future__ import annotations

import base64
import urllib.parse
import uuid

__all__ = ["CANARY", "STORE_PASSWORD", "canary_forms", "leaks"]

TAG = uuid.uuid4().hex[:12]
CANARY = {
    "apiKey": f"CANARYKEY{TAG}apikey",
    "secret": f"CANARYSECRET{TAG}s3cr3t",
    "password": f"CANARYPHRASE{TAG}phrase",
}
STORE_PASSWORD = f"CANARYSTORE{TAG}pw"


def canary_forms() -> dict[str, str]:
    """Every canary value with the encoded forms a leak could take."""
    forms: dict[str, str] = {}
    for name, value in {**CANARY, "store-password": STORE_PASSWORD}.items():
        raw = value.encode()
        forms[name] = value
        forms[f"{name}/b64"] = base64.b64encode(raw).decode().rstrip("=")
        forms[f"{name}/b64url"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        forms[f"{name}/hex"] = raw.hex()
        forms[f"{name}/HEX"] = raw.hex().upper()
        forms[f"{name}/url"] = urllib.parse.quote(value, safe="")
    return forms


def leaks(text: str | bytes) -> list[str]:
    """The canary forms found in ``text`` (case-sensitive bytes search)."""
    data = text.encode() if isinstance(text, str) else text
    return [name for name, form in canary_forms().items() if form.encode() in data]
