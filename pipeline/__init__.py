"""The domain: log entries, batches, templates, detectors, scoring and storage."""
