"""One function per user-visible operation, shared by the CLI and the server.

Nothing here imports typer, rich or fastapi; a test enforces it.
"""
