"""The closed sets of values some recipe fields take, and the names its templates may use.

Kept apart from the recipe model (pydantic, Jinja2) so the command line can show them in
its help, and list the presets, without loading either.
"""

from collections.abc import Iterable
from typing import Literal

Sampling = Literal["balanced", "uniform"]
ReasoningEffort = Literal["minimal", "low", "medium", "high"]


def template_variables(lists: Iterable[str], constants: Iterable[str], features: bool) -> set[str]:
    """Names a recipe's templates may use: one per list, the constants, and `features`
    when the recipe draws story features."""
    return {*lists, *constants, *(("features",) if features else ())}
