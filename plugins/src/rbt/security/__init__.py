"""Secrets handling (design.md §2.8, reliability.md B.2).

* :mod:`rbt.security.vault` — the encrypted file format (Argon2id or scrypt + AES-256-GCM);
* :mod:`rbt.security.credentials` — named venue credentials: the store under
  ``$RBT_HOME/credentials``, environment variables, and :func:`~.credentials.resolve`;
* :mod:`rbt.security.redaction` — the one log filter that masks secret values;
* :mod:`rbt.security.vendors` — vendor SDK verbose/debug switches forced off.

Python cannot reliably wipe a string from memory: a revealed secret lives until the
garbage collector reuses its memory. We keep secrets in :class:`~rbt.kernel.secrets.Secret`
so they never print, and never claim more than that.
"""
