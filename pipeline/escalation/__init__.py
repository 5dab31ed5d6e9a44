"""Escalation: a second opinion from an LLM on suspicious anomalies.

Redacted, structured, budgeted; an advisor that never holds detection up.
"""

# The model asked when the settings name none: here, not with the review's types, so the
# settings read it without importing them (a run without an LLM never uses them).
DEFAULT_MODEL = "gemini-2.5-flash"
