"""Example third-party defense for omni-safety harness (see README.md)."""
