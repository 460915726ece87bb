"""Reports: on sweeps (the saved comparison, its summary and conclusion, the figures and the HTML page),
on one run, and on a learning-rate finder."""

from gdlab.report.comparison import Comparison, from_sweep, load, save, variant_label
from gdlab.report.conclusion import conclusion
from gdlab.report.finder import finder_figure, render_finder
from gdlab.report.html import render, write_html
from gdlab.report.of_result import from_result
from gdlab.report.run_page import render_run
from gdlab.report.summary import Summary, VariantSummary, failure, summarize

__all__ = [
    "Comparison",
    "Summary",
    "VariantSummary",
    "conclusion",
    "failure",
    "finder_figure",
    "from_result",
    "from_sweep",
    "load",
    "render",
    "render_finder",
    "render_run",
    "save",
    "summarize",
    "variant_label",
    "write_html",
]
