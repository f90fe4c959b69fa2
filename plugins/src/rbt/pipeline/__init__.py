"""Zipline's Pipeline API, computed with Polars over the whole universe.

Import paths are Zipline's with ``zipline`` replaced by ``rbt``::

    from rbt.pipeline import Pipeline, CustomFactor
    from rbt.pipeline.data import USEquityPricing
    from rbt.pipeline.factors import SimpleMovingAverage, Returns
    from rbt.api import attach_pipeline, pipeline_output

See :mod:`rbt.pipeline.engine` for how (and when) a pipeline is computed.
"""

from __future__ import annotations

from rbt.pipeline._terms import (
    Classifier,
    CustomClassifier,
    CustomFactor,
    CustomFilter,
    Factor,
    Filter,
    NotSpecified,
    Term,
)
from rbt.pipeline.engine import PipelineEngine, run_pipeline
from rbt.pipeline.pipeline import Pipeline

__all__ = [
    "Classifier",
    "CustomClassifier",
    "CustomFactor",
    "CustomFilter",
    "Factor",
    "Filter",
    "NotSpecified",
    "Pipeline",
    "PipelineEngine",
    "Term",
    "run_pipeline",
]
