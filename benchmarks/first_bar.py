"""Start-up probe for benchmarks/run.py: writes the wall-clock time of its first bar.

``rbt run benchmarks/first_bar.py --param stamp=/tmp/x ...``: the time from launching
the process to the first ``handle_data`` is the overhead before the first bar
(interpreter, imports, bundle opening, strategy loading, the clock).
"""

import time

PARAMS = {"stamp": ""}


def initialize(context):
    context.stamped = False


def handle_data(context, data):
    if not context.stamped:
        with open(context.params.stamp, "w") as handle:
            handle.write(repr(time.time()))
        context.stamped = True
