"""Pydantic models whose errors read like every other bad input: one InputError naming the key, the value and
what is allowed, in words. Shared by the economics model (cost/economics_model.py) and the stack config
schema (infra/config/schema.py), which also documents each key from `allowed`.

A field says what it accepts with an `Allowed("...")` annotation, or it is said from its type and bounds; a
validator refuses with `refuse(allowed, detail)`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic_core import PydanticCustomError

from cost.errors import InputError


@dataclass(frozen=True)
class Allowed:
    """What a key accepts, in words (for errors and the generated reference)."""

    text: str


@dataclass(frozen=True)
class FromText:
    """Marks a number field that parses text itself (a token volume such as 750M): its command-line flag passes the
    text as typed instead of reading a number first."""


def refuse(allowed: str, detail: str = "") -> typing.NoReturn:
    raise PydanticCustomError("breakeven", "{allowed}", {"allowed": allowed, "detail": detail})


def _integral(value: Any) -> Any:
    """2.0 reads as 2; anything else goes on to the strict int check (which names the range)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Whole = Annotated[int, BeforeValidator(_integral)]  # a whole number, written as 2 or 2.0


def real(low: float, high: float, text: str, *, above_low: bool = False) -> BeforeValidator:
    """A validator of a finite number in [low, high] ((low, high] with `above_low`) that keeps it as written (an
    int stays an int, so a value read and written again is the same text); anything else is refused with `text`.
    Use it as `Annotated[Any, real(...), Allowed(text)]`."""
    def check(value: Any) -> Any:
        if (isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high  # NaN fails too
                or (above_low and value == low)):
            refuse(text)
        return value
    return BeforeValidator(check)


def _strip_optional(ann: Any) -> Any:
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return ann


def unwrap(ann: Any) -> tuple[Any, list]:
    """(bare type, metadata) of a possibly Annotated, possibly optional annotation."""
    ann = _strip_optional(ann)
    meta: list = []
    while typing.get_origin(ann) is Annotated:
        meta += list(ann.__metadata__)
        ann = _strip_optional(ann.__origin__)
    return ann, meta


def _bound(meta: list, name: str) -> Any:
    for m in meta:
        if getattr(m, name, None) is not None:
            return getattr(m, name)
        for sub in getattr(m, "metadata", ()):
            if getattr(sub, name, None) is not None:
                return getattr(sub, name)
    return None


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:g}"


def allowed(ann: Any, meta: list | None = None) -> str:
    """What an annotation accepts, in words."""
    bare, more = unwrap(ann)
    meta = (meta or []) + more
    words = [m.text for m in meta if isinstance(m, Allowed)]
    if words:
        return words[-1]  # the outermost: a type built on another says what it adds
    if isinstance(bare, type) and issubclass(bare, BaseModel):
        return "a mapping with keys " + ", ".join(f.alias or n for n, f in bare.model_fields.items())
    if typing.get_origin(bare) is Literal:
        return ", ".join(str(a) for a in typing.get_args(bare))
    if typing.get_origin(bare) is list:
        (item,) = typing.get_args(bare)
        return "a list of: " + allowed(item)
    if bare is bool:
        return "true or false"
    ge, gt, le, lt = (_bound(meta, n) for n in ("ge", "gt", "le", "lt"))
    if bare is int:
        if ge is not None and le is not None:
            return f"a whole number, from {_num(ge)} to {_num(le)}"
        return f"a whole number, at least {_num(ge)}" if ge is not None else "a whole number"
    if bare is float:
        low = f"at least {_num(ge)}" if ge is not None else f"above {_num(gt)}" if gt is not None else ""
        high = f"at most {_num(le)}" if le is not None else f"below {_num(lt)}" if lt is not None else ""
        return "a finite number" + (" " + " and ".join(x for x in (low, high) if x) if low or high else "")
    if bare is str:
        pattern = _bound(meta, "pattern")
        return f"a string matching {pattern}" if pattern else "a string"
    return str(bare)


def _field(model: type[BaseModel], key: str):
    for name, f in model.model_fields.items():
        if (f.alias or name) == key or name == key:
            return f
    return None


def _at(root: type[BaseModel], loc: tuple) -> tuple[Any, list]:
    """(annotation, field metadata) at an error location; (None, []) past the schema."""
    ann: Any = root
    meta: list = []
    for part in loc:
        bare, _ = unwrap(ann)
        if isinstance(part, int) and typing.get_origin(bare) is list:
            ann, meta = typing.get_args(bare)[0], []
        elif isinstance(part, str) and isinstance(bare, type) and issubclass(bare, BaseModel) and _field(bare, part):
            f = _field(bare, part)
            ann, meta = f.annotation, list(f.metadata)
        else:
            return None, []
    return ann, meta


def spelled(model: type[BaseModel], name: str) -> str:
    """A field's name as a stack file spells it (its alias); a name the model lacks stays as it is."""
    f = model.model_fields.get(name)
    return name if f is None else f.alias or name


def flag(model: type[BaseModel], name: str) -> str:
    """A field's command-line flag: the `flag` its json_schema_extra names, else --<name with dashes>."""
    extra = model.model_fields[name].json_schema_extra
    return str(extra["flag"]) if isinstance(extra, dict) and "flag" in extra else "--" + name.replace("_", "-")


def check_field(model: type[BaseModel], name: str, value: Any) -> Any:
    """One field's value validated alone (its type, bounds and validators, under the model's config), as the model
    would hold it; an InputError naming the field and what it allows otherwise."""
    try:
        return getattr(model.__pydantic_validator__.validate_assignment(model.model_construct(), name, value), name)
    except ValidationError as err:
        raise to_input_error(err, model, "") from None


def path(loc: tuple, prefix: str) -> str:
    """`('models', 0, 'replicas')` under `breakeven:` -> `breakeven:models[0].replicas`."""
    out = prefix + str(loc[0]) if loc else prefix.rstrip(":.")
    for part in loc[1:]:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def to_input_error(err: ValidationError, root: type[BaseModel], prefix: str) -> InputError:
    """The first error of a pydantic validation as an InputError: the config path, the value, what is allowed."""
    e = err.errors(include_url=False)[0]
    loc, kind = tuple(e["loc"]), e["type"]
    ctx = e.get("ctx") or {}
    value = e.get("input")
    ann, meta = _at(root, loc)
    text = "" if ann is None else allowed(ann, meta)
    detail = ctx.get("detail", "")
    if kind == "breakeven":
        text = ctx["allowed"]
    elif kind == "extra_forbidden":
        section, _ = unwrap(_at(root, loc[:-1])[0])
        text = "a known key: " + ", ".join(f.alias or n for n, f in section.model_fields.items())
        detail = "unknown key (a typo?)"
    elif kind == "missing":
        value = None
        detail = "required"
    elif kind in ("too_short", "too_long"):
        bound = ctx.get("min_length") if kind == "too_short" else ctx.get("max_length")
        detail = f"at {'least' if kind == 'too_short' else 'most'} {bound} item(s), got {ctx.get('actual_length')}"
    elif kind == "value_error":
        text = str(ctx.get("error", e["msg"]))
    return InputError(path(loc, prefix), value, text or e["msg"], detail)
