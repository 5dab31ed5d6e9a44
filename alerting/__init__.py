"""Alerting: turning anomalies into alerts and delivering them to people."""
