"""Renderers: they only format a Target; they never parse or join."""
