"""Subcommands, loaded lazily by symmap.cli (each module defines ``command``)."""
