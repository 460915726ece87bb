"""Reports on sweeps: the saved comparison, its summary and conclusion, the figures and the HTML page."""

from gdlab.report.comparison import Comparison, from_sweep, load, save, variant_label
from gdlab.report.conclusion import conclusion
from gdlab.report.html import render, write_html
from gdlab.report.summary import Summary, VariantSummary, failure, summarize

__all__ = [
    "Comparison",
    "Summary",
    "VariantSummary",
    "conclusion",
    "failure",
    "from_sweep",
    "load",
    "render",
    "save",
    "summarize",
    "variant_label",
    "write_html",
]
