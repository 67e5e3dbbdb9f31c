"""Options shared by several commands, each naming its env var or default in its help."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from manimagent.render.base import OutputFormat, Quality

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout (the REST body).")]
QualityOption = Annotated[
    Optional[Quality], typer.Option("--quality", "-q", help="Render quality (default: config render.quality, low).")
]
FormatOption = Annotated[
    Optional[OutputFormat], typer.Option("--format", "-f", help="Output format (default: config render.format, mp4).")
]
EngineOption = Annotated[
    Optional[str], typer.Option("--engine", "-e", help="Render engine: local or docker (default: config render.engine).")
]
ContainerOption = Annotated[
    Optional[str], typer.Option("--container", "-c", help="Container name or id for --engine docker.")
]
MaxAttemptsOption = Annotated[
    Optional[int], typer.Option("--max-attempts", min=1, max=10, help="Render attempts in total, repairs included.")
]
OutputPathOption = Annotated[
    Optional[str], typer.Option("--output", "-o", help="Also copy the final video to this path.")
]
