"""Hosted adapters for the renderer's ports: Replicate clips and music, OpenAI-compatible speech.

`factory.build_providers` picks them or the local ones in `omnigen.renderer.media` by settings.
"""
