"""The closed sets of values some recipe fields take.

Kept apart from the recipe model (pydantic, Jinja2) so the command line can show them in
its help without loading either.
"""

from typing import Literal

Sampling = Literal["balanced", "uniform"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]
