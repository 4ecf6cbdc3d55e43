"""Checks for the values typed on a node: its label, parameters and editable inputs.

Each check returns None when the value is acceptable, or the problem code and a sentence that
completes "<Field> of node <id> ..." so the validator can name the node and the field.
"""

from __future__ import annotations

import math
import re
from typing import Any, TypeGuard

from engine.spec import MAX_LABEL_LENGTH, MAX_TEXT_LENGTH, ParamKind, ParamSpec, PortSpec, PortType

INVALID = "invalid_parameter"
OUT_OF_RANGE = "parameter_out_of_range"

_NUMBER_TEXT = re.compile(r"\s*(-?[0-9]{1,15}(?:\.[0-9]{1,15})?)\s*(%?)\s*")

Finding = tuple[str, str]


def describe(value: object) -> str:
    """A short description of what a value is, for messages."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, str):
        return "text"
    if isinstance(value, int | float):
        return f"the number {value}" if math.isfinite(value) else f"the non-finite number {value}"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


# Yjs stores numbers as doubles: integers beyond this lose precision (and crash the CRDT binding).
MAX_SAFE_INTEGER = 2**53


def parse_number_text(value: str, *, allow_percent: bool) -> tuple[int | float, bool] | None:
    """Text that stands for a number: `(number, is_percent)`, or None when it is not one.

    "12.5", " 7 " and "-3" are numbers; with `allow_percent`, "50%" and "50 %" are percentages
    (never negative). No exponents, no thousands separators, at most 15 digits either side of
    the point. Validation and run time both read numbers typed as text through this, so they
    never disagree about what a value means."""
    match = _NUMBER_TEXT.fullmatch(value)
    if match is None:
        return None
    number = float(match.group(1))
    percent = bool(match.group(2))
    if percent and (not allow_percent or number < 0):
        return None
    return (int(number) if number.is_integer() else number), percent


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float that a Yjs document can hold exactly; booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    if isinstance(value, int):
        return abs(value) <= MAX_SAFE_INTEGER
    return math.isfinite(value) and abs(value) <= MAX_SAFE_INTEGER


def _format(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _check_range(number: float, minimum: float | None, maximum: float | None) -> Finding | None:
    if minimum is not None and number < minimum:
        return OUT_OF_RANGE, f"is {_format(number)}, below the minimum of {_format(minimum)}."
    if maximum is not None and number > maximum:
        return OUT_OF_RANGE, f"is {_format(number)}, above the maximum of {_format(maximum)}."
    return None


def _check_string(value: object, max_length: int | None, pattern: str | None) -> Finding | None:
    if not isinstance(value, str):
        return INVALID, f"must be text, not {describe(value)}."
    limit = max_length if max_length is not None else MAX_TEXT_LENGTH
    if len(value) > limit:
        return INVALID, f"is {len(value)} characters long; the limit is {limit}."
    if "\x00" in value:
        return INVALID, "contains a NUL character, which text cannot hold."
    if pattern is not None and value and re.fullmatch(pattern, value) is None:
        return INVALID, f"is {value!r}, which does not match the required pattern {pattern}."
    return None


def check_label(value: object) -> Finding | None:
    """Check a node's `label`."""
    return _check_string(value, MAX_LABEL_LENGTH, None)


def check_param(spec: ParamSpec, value: object) -> Finding | None:
    """Check the value typed for a parameter against its spec."""
    kind = spec.kind
    if kind in (ParamKind.TEXT, ParamKind.STRING, ParamKind.MEDIA, ParamKind.MODEL):
        return _check_string(value, spec.max_length, spec.pattern)
    if kind == ParamKind.BOOLEAN:
        if isinstance(value, bool):
            return None
        return INVALID, f"must be true or false, not {describe(value)}."
    if kind == ParamKind.SELECT:
        if isinstance(value, str) and value in spec.choices:
            return None
        shown = repr(value) if isinstance(value, str) else describe(value)
        return INVALID, f"is {shown}; choose one of: {', '.join(spec.choices)}."
    if kind == ParamKind.INTEGER:
        # Yjs may hand integers back as floats, so 3.0 counts as the integer 3.
        if is_number(value) and float(value).is_integer():
            return _check_range(value, spec.minimum, spec.maximum)
        return INVALID, f"must be a whole number, not {describe(value)}."
    if is_number(value):
        return _check_range(value, spec.minimum, spec.maximum)
    return INVALID, f"must be a number, not {describe(value)}."


def check_input_value(spec: PortSpec, value: object) -> Finding | None:
    """Check the value typed on the node for an editable input."""
    if spec.type != PortType.NUMBER:
        return _check_string(value, spec.max_length, None)
    if is_number(value):
        return _check_range(value, spec.minimum, spec.maximum)
    if isinstance(value, str):  # text is read the way a run reads it (engine/resolve.py)
        return _check_number_text(spec, value)
    expected = 'a number or a percentage such as "50%"' if spec.allow_percent else "a number"
    return INVALID, f"must be {expected}, not {describe(value)}."


def _check_number_text(spec: PortSpec, value: str) -> Finding | None:
    parsed = parse_number_text(value, allow_percent=spec.allow_percent)
    if parsed is None:
        if spec.allow_percent:
            return INVALID, f'is {value!r}; type a number or a percentage such as "50%".'
        return INVALID, f"is {value!r}; type a number such as 12.5."
    number, percent = parsed
    if percent:
        if number > 100:
            return OUT_OF_RANGE, f"is {value.strip()}; a percentage must be between 0% and 100%."
        return None
    return _check_range(number, spec.minimum, spec.maximum)


def is_blank(value: Any) -> bool:
    """Whether a typed value counts as "nothing typed" for a required input."""
    return value is None or (isinstance(value, str) and not value.strip())
