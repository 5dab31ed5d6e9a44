"""Escalation: a second opinion from an LLM on suspicious anomalies.

Redacted, structured, budgeted; an advisor that never holds detection up.
"""
