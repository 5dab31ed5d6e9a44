"""The parsing boundary: raw input in, a LogEntry or a Rejection out, never an exception.

Sources: one Cloud Logging LogEntry JSON (`parse_entry`), a log-sink Pub/Sub message
(`parse_pubsub_message`), a Pub/Sub push request (`parse_push_body`), a plain text line
(`parse_text_line`), a file or stdin of either, line by line (`iter_lines`), and a file
or stdin of any format we read, detected (`read_input`: JSON lines, a JSON array, JSON
objects one after another, plain text, each possibly gzipped).
"""

from pipeline.parsing.formats import InputError, InputFormat, InputKind, detect_format, read_input
from pipeline.parsing.lines import iter_lines, iter_numbered_lines
from pipeline.parsing.logentry import MAX_DEPTH, parse_entry
from pipeline.parsing.pubsub import TIMESTAMP_ATTRIBUTE, parse_pubsub_message, parse_push_body
from pipeline.parsing.rejection import (
    DEFAULT_MAX_ENTRY_BYTES,
    MAX_STORED_RAW,
    Rejection,
    RejectReason,
)
from pipeline.parsing.text import guess_severity, parse_text_line
from pipeline.parsing.timestamps import leading_timestamp_ns, rfc3339_ns

__all__ = [
    "DEFAULT_MAX_ENTRY_BYTES",
    "MAX_DEPTH",
    "MAX_STORED_RAW",
    "TIMESTAMP_ATTRIBUTE",
    "InputError",
    "InputFormat",
    "InputKind",
    "RejectReason",
    "Rejection",
    "detect_format",
    "guess_severity",
    "iter_lines",
    "iter_numbered_lines",
    "leading_timestamp_ns",
    "parse_entry",
    "parse_pubsub_message",
    "parse_push_body",
    "parse_text_line",
    "read_input",
    "rfc3339_ns",
]
