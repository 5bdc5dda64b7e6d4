"""The session report: one self-contained HTML page from a journal (``aries-engine report``).

``write_report(journal, out)`` is the whole API. Inside, ``engine.report.data`` reads the
journal into plain data (``extract``), ``engine.report.pnl`` does the average-cost accounting,
``engine.report.svg`` draws the chart and ``engine.report.render`` writes the page.
"""

from engine.report.writer import ReportError as ReportError
from engine.report.writer import ReportSummary as ReportSummary
from engine.report.writer import write_report as write_report

__all__ = ["ReportError", "ReportSummary", "write_report"]
