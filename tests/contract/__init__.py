"""Contract tests: every request to the sandboxes is checked against the providers' specs."""
