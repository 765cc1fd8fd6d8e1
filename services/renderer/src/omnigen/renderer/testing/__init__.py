"""Fake provider servers for the renderer's tests: real HTTP on 127.0.0.1, real clients."""
