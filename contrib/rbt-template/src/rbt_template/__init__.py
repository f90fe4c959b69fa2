"""rbt-template: the copyable skeleton of a RustyBT plugin distribution.

Keep this module empty of imports: ``import rbt_template`` happens whenever the
package is loaded, so it must cost nothing. The version comes from the installed
metadata, the single source being ``pyproject.toml``.
"""

from __future__ import annotations

__version__ = "0.1.0"
