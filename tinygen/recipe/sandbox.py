"""The Jinja2 sandbox for prompt templates, bounded in size.

A recipe may come from anyone. Jinja2's immutable sandbox already refuses Python
internals and mutating lists or dicts; this one also refuses, before they are built,
values larger than MAX_PROMPT_CHARS (`'a' * 300000000`, huge powers, `%` widths,
`str.format` widths, `~` and `+` joins, padding filters), and loads no other template.
Refusals raise `Refused`, which says what the template is not allowed to do.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Iterable

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter

MAX_PROMPT_CHARS = 200_000
_MAX_INT_BITS = 100_000  # about 30,000 digits: more than any prompt needs
TEMPLATE_FILE = "<template>"  # the file name of template code in jinja2's tracebacks
_JINJA_STATE = (nodes.EvalContext, jinja2.Environment, Context)
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


class Refused(SecurityError):
    """The sandbox refused something: `what` the template is not allowed to do."""

    def __init__(self, what: str, detail: str) -> None:
        super().__init__(detail)
        self.what = what


def _too_big(detail: str) -> Refused:
    return Refused(f"build values of more than {MAX_PROMPT_CHARS:,} characters", detail)


def _size(value: object, limit: int = MAX_PROMPT_CHARS) -> int:
    """About how many characters str(value) has; counting stops once past `limit`."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, dict):
        value = itertools.chain.from_iterable(value.items())
    elif not isinstance(value, list | tuple | set | frozenset):
        return 0  # numbers and jinja2's helper objects print short
    total = 2
    for item in value:
        total += _size(item, limit - total) + 2
        if total > limit:
            break
    return total


def _check_size(size: int, what: str) -> None:
    if size > MAX_PROMPT_CHARS:
        raise _too_big(f"{what} would have about {size:,} characters")


def _check_ints(values: Iterable[object]) -> None:
    """Refuse int arguments (widths, counts) larger than MAX_PROMPT_CHARS."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_PROMPT_CHARS:
            raise _too_big(f"an argument of {value:,}")


def _check_binop(operator: str, left: object, right: object) -> None:
    """Refuse `*`, `**`, `%` and `+` whose result would be oversized."""
    if operator == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
        _check_int_bits(left, right, "a product")
    elif operator == "**":
        _check_int_bits(left, right, "a power")
    elif operator == "%" and isinstance(left, str):
        _check_percent(left, right)
    elif operator == "+" and isinstance(left, str | list | tuple):
        _check_size(_size(left) + _size(right), f"{type(left).__name__} + {type(right).__name__}")


def _check_repeat(seq: object, count: object) -> None:
    if isinstance(seq, str | list | tuple) and isinstance(count, int) and count > 0:
        size = max(_size(seq) - 2, len(seq)) * count
        _check_size(size, f"{type(seq).__name__} * {count}")


def _check_int_bits(left: object, right: object, what: str) -> None:
    """Refuse int products and powers with more than _MAX_INT_BITS bits."""
    if not (isinstance(left, int) and isinstance(right, int)):
        return
    if what == "a power":
        bits = left.bit_length() * right if abs(left) > 1 and right > 0 else 0
    else:
        bits = left.bit_length() + right.bit_length()
    if bits > _MAX_INT_BITS:
        raise _too_big(f"{what} of about {bits:,} bits")


def _check_percent(text: str, args: object) -> None:
    """Refuse `text % args` with huge widths or precisions, or an oversized result."""
    values = args if isinstance(args, tuple) else (args,)
    specs = _PERCENT_SPEC.findall(text)
    numbers = [int(n) for spec in specs for n in spec if n.isdigit()]
    if any("*" in spec for spec in specs):
        numbers += [v for v in values if isinstance(v, int)]
    _check_ints(numbers)
    _check_size(len(text) + sum(map(_size, values)) + sum(numbers), "that % formatting")


def _check_str_method(method: object, args: tuple) -> None:
    """Refuse str.replace, str.join and str.translate calls with oversized results."""
    text, name = getattr(method, "__self__", None), getattr(method, "__name__", "")
    if not isinstance(text, str):
        return
    if name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
        _check_replace(text, args[0], args[1])
    elif name == "join" and args:
        _check_join(args[0], text)
    elif name == "translate" and args and isinstance(args[0], dict):
        longest = max((_size(v) for v in args[0].values()), default=1)
        _check_size(len(text) * max(longest, 1), "that translate()")


def _check_replace(text: str, old: str, new: str) -> None:
    count = text.count(old) if old else len(text) + 1
    _check_size(len(text) + count * (len(new) - len(old)), "that replace()")


def _check_join(values: object, separator: object) -> None:
    count = len(values) if isinstance(values, str | list | tuple | set | frozenset | dict) else 0
    _check_size(_size(values) + count * _size(separator), "that join()")


_FILTER_CHECKS: dict[str, Callable[[object, list, dict], None]] = {
    **dict.fromkeys(
        ("center", "indent", "wordwrap", "truncate", "batch", "slice"),
        lambda value, args, kwargs: _check_ints([*args, *kwargs.values()]),
    ),
    "format": lambda value, args, kwargs: _check_percent(str(value), tuple(args) or kwargs),
    "replace": lambda value, args, kwargs: (
        _check_replace(str(value), str(args[0]), str(args[1])) if len(args) >= 2 else None
    ),
    "join": lambda value, args, kwargs: _check_join(value, args[0] if args else ""),
}


def _bounded_filter(name: str, func: Callable) -> Callable:
    """`func` refusing an oversized input value, and the arguments its check refuses."""
    check = _FILTER_CHECKS.get(name)

    @functools.wraps(func)  # keeps jinja2's pass_context/pass_environment marks
    def bounded(*args: object, **kwargs: object) -> object:
        value, *rest = [arg for arg in args if not isinstance(arg, _JINJA_STATE)] or [None]
        _check_size(_size(value), f"the value given to |{name}")
        if check is not None:
            check(value, rest, kwargs)
        return func(*args, **kwargs)

    return bounded


def _checked_output(value: object) -> object:
    """`{{ value }}`, refused when printing it would give more than MAX_PROMPT_CHARS."""
    if not isinstance(value, str):
        _check_size(_size(value), "printing that value")
    return value


class _BoundedFormatter(SandboxedFormatter):
    """A dry run of str.format: refuses huge field widths and an oversized result."""

    def __init__(self, env: jinja2.Environment) -> None:
        super().__init__(env)
        self.total = 0

    def format_field(self, value: object, format_spec: str) -> str:
        _check_ints(int(n) for n in re.findall(r"\d+", format_spec))
        _check_size(_size(value), "a formatted field")
        text = super().format_field(value, format_spec)
        self.total += len(text)
        _check_size(self.total, "that format()")
        return text


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` so the parts' size is checked before they are joined."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        else:
            join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
        self.write(f"{join}(environment.checked_parts((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(")))")


class _NoLoader(jinja2.BaseLoader):
    """Templates cannot include, import or extend other templates (or any file)."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple:
        raise Refused("load other templates", f"{template!r}")


class BoundedEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, refusing operations whose result would exceed MAX_PROMPT_CHARS."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, **options: object) -> None:
        super().__init__(loader=_NoLoader(), finalize=_checked_output, **options)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        del self.globals["lipsum"]  # lipsum(n) writes n paragraphs

    def call_binop(self, context: Context, operator: str, left: object, right: object) -> object:
        _check_binop(operator, left, right)
        return super().call_binop(context, operator, left, right)

    def call(self, context: Context, obj: object, /, *args: object, **kwargs: object) -> object:
        if not getattr(obj, "bounded_format", False):  # str.format checks its own widths
            _check_ints([*args, *kwargs.values()])
        _check_str_method(obj, args)
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: object) -> Callable[..., str] | None:
        formatted = super().wrap_str_format(value)
        if formatted is None:
            return None
        text, is_map = str(value.__self__), value.__name__ == "format_map"  # type: ignore[attr-defined]

        def bounded(*args: object, **kwargs: object) -> str:
            if not is_map or (len(args) == 1 and not kwargs):
                mapping = args[0] if is_map else kwargs
                _BoundedFormatter(self).vformat(text, () if is_map else args, mapping)
            return formatted(*args, **kwargs)

        bounded = functools.update_wrapper(bounded, formatted)
        bounded.bounded_format = True  # type: ignore[attr-defined]
        return bounded

    def checked_parts(self, parts: tuple) -> tuple:
        """The operands of `~`, refused if joining them would be oversized."""
        _check_size(sum(_size(part) for part in parts), "that ~ concatenation")
        return parts
