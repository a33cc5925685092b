"""The version, in one place (setup.cfg reads it; so do --version and the KMS User-Agent)."""

__version__ = "0.1.0"
