"""CSV for spreadsheets, safe to open: no cell is read as a formula.

A spreadsheet runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some, a tab or a
carriage return) as a formula: a label that came from a broker event could otherwise run
``=HYPERLINK(...)`` on a supervisor's machine (OWASP "CSV injection").  Such a cell gets a leading
apostrophe, which spreadsheets show as text.  Quoting is the csv module's (RFC 4180).
"""

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Final

FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def to_csv(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()
