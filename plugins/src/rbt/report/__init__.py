"""Reports of runs: :func:`rbt.report.html.write_report` writes the self-contained HTML report."""
