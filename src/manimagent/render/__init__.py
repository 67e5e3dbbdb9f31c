"""Rendering engines: `local` (a child process) and `docker` (a hardened container)."""
