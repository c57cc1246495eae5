"""tinygen: build synthetic training corpora for small language models.

The Python API is what `__all__` names; each name is imported from its module on first
use, so `import tinygen` stays cheap. Example (README, "Python API"):

    import tinygen
    recipe = tinygen.load_recipe("tinystories")
    teacher = tinygen.make_teacher(tinygen.TeacherOptions(base_url="http://localhost:8000/v1"))
    result = tinygen.generate(recipe, teacher, tinygen.RunConfig(out_dir=Path("out"), target=50))
"""

from importlib import import_module

__version__ = "0.1.0"  # the package's version: pyproject.toml reads it from here
SCHEMA_VERSION = 1

_HOMES = {
    "generate": "tinygen.engine.generation",
    "RunConfig": "tinygen.engine.generation",
    "RunResult": "tinygen.engine.generation",
    "load_recipe": "tinygen.recipe.load",
    "TeacherOptions": "tinygen.teachers.factory",
    "make_teacher": "tinygen.teachers.factory",
    "dedup_files": "tinygen.dedup.files",
    "corpus_stats": "tinygen.report.corpus",
    "TinygenError": "tinygen.errors",
    "UsageError": "tinygen.errors",
}
__all__ = [*_HOMES, "SCHEMA_VERSION", "__version__"]


def __getattr__(name: str) -> object:
    """The public names, imported from their modules when first used."""
    if name not in _HOMES:
        raise AttributeError(f"module 'tinygen' has no attribute {name!r}")
    return getattr(import_module(_HOMES[name]), name)


def __dir__() -> list[str]:
    return sorted(__all__)
