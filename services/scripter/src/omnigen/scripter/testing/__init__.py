"""Test support shipped with the package (importable under pytest's importlib mode)."""
