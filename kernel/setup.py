"""The kernel's optional C module (everything else is in pyproject.toml).

``rbt.kernel._native`` builds with the machine's C compiler; where it cannot be built
(``optional``), the install goes on and :mod:`rbt.kernel.model` uses its Python code.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("rbt.kernel._native", ["src/rbt/kernel/_native.c"], optional=True),
    ]
)
