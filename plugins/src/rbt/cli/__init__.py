"""The ``rbt`` command line. Importing this package builds no plugin manager."""
