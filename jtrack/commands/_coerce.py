"""Fast option coercion for Typer >= 0.29, whose parameters go through Pydantic.

Typer 0.29 coerces every parameter value that is not a bool flag through a Pydantic
TypeAdapter built on first use. Importing pydantic and building a dozen adapters costs about
0.3 s of every command's start-up, more than the whole data work of `jtrack card`.

`install()` gives the parameter types jtrack uses (str, int, float, Path, Enum choices and
lists of those) a direct conversion that returns exactly what the adapter returns for a valid
value. Anything else, and every value the direct conversion does not accept, goes to Typer's
own coercion, built only then (so an option that is not given costs nothing): error messages
and exit codes stay Typer's own. With older Typer (no runtime coercion layer) `install()`
does nothing. tests/test_startup.py checks the two agree on every jtrack option.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_origin

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


class _NotFast(Exception):
    """The direct conversion does not take this value: use Typer's own coercion."""


Convert = Callable[[Any, Any, Any], Any]  # (value, param, ctx) -> coerced value


def _leaf(annotation: Any, info: Any) -> Convert | None:
    """A direct conversion for one CLI value, or None when there is none."""
    if getattr(info, "parser", None) is not None:
        if annotation is Path:  # (jtrack's own parsers of a path: --store, -o)
            parse = info.parser

            def conv_parsed(value: Any, param: Any, ctx: Any) -> Any:
                if isinstance(value, str):
                    return parse(value)  # (its typer.BadParameter: Typer's usage error)
                if value is None or isinstance(value, Path):
                    return value
                raise _NotFast

            return conv_parsed
        return None
    if annotation is str:

        def conv_str(value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, str):
                return value
            raise _NotFast

        return conv_str
    if annotation is bool:

        def conv_bool(value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, bool):
                return value
            raise _NotFast

        return conv_bool
    if annotation is int or annotation is float:
        return _number(annotation, info)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        from typer._param_types import coerce_cli_choice

        choices = list(annotation)
        case_sensitive = getattr(info, "case_sensitive", True)

        def conv_enum(value: Any, param: Any, ctx: Any) -> Any:
            try:
                return coerce_cli_choice(
                    value, choices=choices, case_sensitive=case_sensitive, ctx=ctx
                )
            except ValueError:
                raise _NotFast from None

        return conv_enum
    if annotation is Path and getattr(info, "path_type", None) is None:
        from typer._param_types import coerce_cli_path

        def conv_path(value: Any, param: Any, ctx: Any) -> Any:
            if isinstance(value, str):
                value = Path(value)
            if not isinstance(value, Path):
                raise _NotFast
            # Typer's own checks (exists, file_okay, ...): they raise Typer's errors.
            return coerce_cli_path(value, info, path_type=Path, param=param, ctx=ctx)

        return conv_path
    return None


def _number(kind: Callable[[Any], Any], info: Any) -> Convert | None:
    lo, hi = getattr(info, "min", None), getattr(info, "max", None)
    clamp = bool(getattr(info, "clamp", False))
    pattern = _INT if kind is int else _FLOAT

    def conv_number(value: Any, param: Any, ctx: Any) -> Any:
        text = isinstance(value, str) and pattern.fullmatch(value)
        if not (text or type(value) is kind or (kind is float and type(value) is int)):
            raise _NotFast
        out = kind(value)
        if clamp:
            if lo is not None and out < lo:
                return kind(lo)
            if hi is not None and out > hi:
                return kind(hi)
            return out
        if (lo is not None and out < lo) or (hi is not None and out > hi):
            raise _NotFast  # Typer says what the range is
        return out

    return conv_number


def _converter(descriptor: Any) -> Convert | None:
    if getattr(descriptor, "file_annotation", None) is not None:
        return None
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if get_origin(annotation) is list:
        args = get_args(annotation)
        leaf = _leaf(args[0], info) if len(args) == 1 else None
        if leaf is None:
            return None

        def conv_list(value: Any, param: Any, ctx: Any) -> Any:
            items = value if isinstance(value, (list, tuple)) else [value]
            return [leaf(item, param, ctx) for item in items]

        return conv_list
    if get_origin(annotation) is not None:
        return None
    return _leaf(annotation, info)


def _slow_only(value: Any, param: Any, ctx: Any) -> Any:
    raise _NotFast


def install() -> bool:
    """Use the direct conversions for Typer's runtime coercion; True when installed."""
    try:
        from typer import _coercion, core
    except ImportError:  # Typer before the runtime-coercion layer: nothing to do
        return False
    param_cls = getattr(core, "_TyperParameter", None)
    base = getattr(_coercion, "RuntimeParam", None)
    build = getattr(_coercion, "build_runtime_param", None)
    if param_cls is None or base is None or build is None:
        return False
    if not hasattr(param_cls, "get_runtime_param") or not hasattr(base, "_coerce_value"):
        return False
    if getattr(param_cls, "_jtrack_fast_coercion", False):
        return True
    build_slow: Callable[[Any], Any] = build

    class FastRuntimeParam(base):  # type: ignore[misc, valid-type]
        """Direct conversion first; Typer's own (Pydantic) coercion for anything else."""

        def __init__(self, descriptor: Any, convert: Convert) -> None:
            object.__setattr__(self, "parameter_info", descriptor.parameter_info)
            object.__setattr__(self, "annotation", descriptor.annotation)
            object.__setattr__(self, "_descriptor", descriptor)
            object.__setattr__(self, "_convert", convert)
            object.__setattr__(self, "_slow", None)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self._convert(value, param, ctx)
            except _NotFast:
                slow: Any = self._slow
                if slow is None:
                    slow = build_slow(self._descriptor)
                    object.__setattr__(self, "_slow", slow)
                return slow._coerce_value(value, param=param, ctx=ctx)

    original = param_cls.get_runtime_param

    def get_runtime_param(self: Any) -> Any:
        if getattr(self, "_runtime_param", None) is None:
            descriptor = getattr(self, "type_descriptor", None)
            if descriptor is not None:
                # Even without a direct conversion, Typer's coercion is built only for a
                # value (an absent option's None never reaches _coerce_value).
                convert = _converter(descriptor) or _slow_only
                self._runtime_param = FastRuntimeParam(descriptor, convert)
                return self._runtime_param
        return original(self)

    param_cls.get_runtime_param = get_runtime_param
    param_cls._jtrack_fast_coercion = True
    return True
