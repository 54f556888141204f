"""Typed, frozen messages and the validation that guards every decoded one.

A message is a frozen, slotted dataclass with a ``KIND`` string that names it on the wire.
Decoding is strict because bytes arrive from other machines: a field that is missing, unknown
or of the wrong type is refused with an error naming the kind, the field and the value, and
never raises anything but :class:`CodecError`.
"""

from __future__ import annotations

import dataclasses
import enum
import reprlib
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

__all__ = [
    "CodecError",
    "Message",
    "from_body",
    "message",
    "message_class",
    "message_kinds",
    "message_schema",
    "to_body",
]

# Where a value sits in a message, for an error: the kind's name, or (parent, separator, part).
# The path is a tuple, formatted only when a value is refused: a good message builds no strings.
Where = str | tuple[Any, str, Any]
Validator = Callable[[Any, Where], Any]
M = TypeVar("M", bound="type[Message]")

_REGISTRY: dict[str, type[Message]] = {}
_SCHEMAS: dict[str, dict[str, str]] = {}
# Per class, computed once: the hot paths of encode and decode must not call dataclasses.fields().
_FIELD_NAMES: dict[type[Message], tuple[str, ...]] = {}
# Per class, made once by _make_builder: check a decoded body and build the message.
_BUILDERS: dict[type[Message], Callable[[Any, Where], Message]] = {}
# Arrays and maps in an ``Any`` field may nest this deep; msgpack allows 1024 levels, more
# than Python's recursion limit, so deeper values must be refused before they overflow it.
_MAX_PLAIN_DEPTH = 100


class CodecError(ValueError):
    """Bytes or a body that are not a valid message; the text says what was wrong.

    ``envelope_id`` and ``src`` are set when the envelope header was readable, so that the
    receiver can still send an error reply to the sender.
    """

    def __init__(
        self,
        text: str,
        *,
        envelope_id: int | None = None,
        src: tuple[str, str] | None = None,
    ) -> None:
        super().__init__(text)
        self.envelope_id = envelope_id
        self.src = src


class Message:
    """Base of every message; subclasses are made with :func:`message`."""

    __slots__ = ()
    KIND: ClassVar[str]


@typing.dataclass_transform(frozen_default=True)
def message(cls: M) -> M:
    """Make ``cls`` a frozen slotted dataclass and register it under its ``KIND``."""
    kind = cls.__dict__.get("KIND")
    if not isinstance(kind, str) or not kind:
        raise TypeError(f"message class {cls.__name__} needs a KIND string")
    if kind in _REGISTRY:
        raise TypeError(f"message kind {kind!r} is registered twice ({cls.__name__})")
    dc = dataclasses.dataclass(frozen=True, slots=True)(cls)
    hints = typing.get_type_hints(dc)
    fields = dataclasses.fields(dc)  # type: ignore[arg-type]
    build = _make_builder(dc, fields, hints)  # raises TypeError for a field type the wire cannot carry
    _REGISTRY[kind] = dc
    _SCHEMAS[kind] = {f.name: _type_name(hints[f.name]) for f in fields}
    _FIELD_NAMES[dc] = tuple(f.name for f in fields)
    _BUILDERS[dc] = build
    return typing.cast(M, dc)


def message_class(kind: str) -> type[Message]:
    """Return the class registered under ``kind``; raise CodecError for an unknown kind."""
    try:
        return _REGISTRY[kind]
    except KeyError:
        raise CodecError(f"unknown message kind {kind!r}") from None
    except TypeError:
        raise CodecError(f"message kind must be a string, not {type(kind).__name__}") from None


def message_kinds() -> list[str]:
    """Return every registered kind, sorted."""
    return sorted(_REGISTRY)


def message_schema() -> dict[str, dict[str, str]]:
    """Return ``{kind: {field: type}}`` for every registered message: the wire contract."""
    return {kind: dict(_SCHEMAS[kind]) for kind in sorted(_SCHEMAS)}


_PRIMITIVES = frozenset((str, int, float, bool, bytes, type(None)))


def to_body(msg: Message) -> dict[str, Any]:
    """Return the msgpack-ready body of ``msg`` (a map of field name to plain value)."""
    body: dict[str, Any] = {}
    for name in _FIELD_NAMES[type(msg)]:
        value = getattr(msg, name)
        body[name] = value if type(value) in _PRIMITIVES else _plain(value)
    return body


def from_body(kind: str, body: Any) -> Message:
    """Build the message of ``kind`` from a decoded body, validating every field."""
    cls = message_class(kind)
    return _build(cls, body, kind)


def _build(cls: type[Message], body: Any, where: Where) -> Message:
    return _BUILDERS[cls](body, where)


# Types a value must have exactly (not isinstance: True is not an int on the wire). The builder
# checks them, and float, inline (``type(x) is T``); a value that fails goes to the field's
# validator, which says what was wrong (or converts it: an int for a float).
_EXACT_TYPES = (bool, int, str, bytes)
_MISSING_FIELD = object()


def _make_builder(
    cls: type[Message], fields: tuple[dataclasses.Field[Any], ...], hints: dict[str, Any]
) -> Callable[[Any, Where], Message]:
    """Return ``build(body, where)`` for ``cls``: the checks of its validators, in field order, as
    one generated function (a decode of a RaftMessage is on every commit's path; a loop over
    the fields calling a validator each took twice as long). The errors are the validators'."""
    names = frozenset(f.name for f in fields)
    env: dict[str, Any] = {
        "cls": cls,
        "names": names,
        "_MISSING": _MISSING_FIELD,
        "_not_map": _not_map,
        "_unknown": _unknown,
        "_missing": _missing,
    }
    lines = [
        "def build(body, where):",
        "    if type(body) is not dict:",
        "        raise _not_map(body, where)",
        "    if not body.keys() <= names:",
        "        raise _unknown(body, names, where)",
        "    get = body.get",
    ]
    args = []
    for i, f in enumerate(fields):
        if not f.init:
            raise TypeError(f"message field {cls.__name__}.{f.name} must be an __init__ field")
        tp = hints[f.name]
        env[f"v{i}"] = _validator_for(tp)
        lines.append(f"    x = get({f.name!r}, _MISSING)")
        if f.default is not dataclasses.MISSING:
            env[f"d{i}"] = f.default
            lines.append(f"    if x is _MISSING: a{i} = d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            env[f"d{i}"] = f.default_factory
            lines.append(f"    if x is _MISSING: a{i} = d{i}()")
        else:
            lines.append(f"    if x is _MISSING: raise _missing(where, {f.name!r})")
        if tp in _EXACT_TYPES or tp is float:
            lines.append(f"    elif type(x) is {tp.__name__}: a{i} = x")
        lines.append(f"    else: a{i} = v{i}(x, (where, '.', {f.name!r}))")
        args.append(f"a{i}")
    lines.append(f"    return cls({', '.join(args)})")
    exec("\n".join(lines), env)  # the code is made here, from the class's own field names
    return typing.cast(Callable[[Any, Where], Message], env["build"])


def _not_map(body: Any, where: Where) -> CodecError:
    return CodecError(f"{_text(where)}: body must be a map, not {type(body).__name__}")


def _unknown(body: dict[Any, Any], names: frozenset[str], where: Where) -> CodecError:
    unknown = [k for k in body if k not in names]
    return CodecError(f"{_text(where)}: unknown field(s) {', '.join(map(repr, sorted(map(str, unknown))))}")


def _missing(where: Where, name: str) -> CodecError:
    return CodecError(f"{_text(where)}: missing field {name!r}")


def _text(where: Where) -> str:
    """Return ``where`` as the error texts name it: ``Kind.field[3]['key']``."""
    parts: list[str] = []
    while type(where) is tuple:
        where, sep, part = where
        if sep == ".":
            parts.append(f".{part}")
        elif sep == "[":
            parts.append(f"[{part!r}]")
        else:  # " key": a map's key
            parts.append(sep)
    assert isinstance(where, str)
    return where + "".join(reversed(parts))


def _plain(value: Any) -> Any:
    if isinstance(value, Message):
        return to_body(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


# Values from the wire may be huge or nested 1000 levels deep: a bounded repr names them
# without a RecursionError or a copy of megabytes.
_SHORT_REPR = reprlib.Repr()
_SHORT_REPR.maxlevel = 3
_SHORT_REPR.maxstring = 60
_SHORT_REPR.maxother = 60
_SHORT_REPR.maxlong = 60


def _describe(value: Any) -> str:
    text = _SHORT_REPR.repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _refuse(value: Any, where: Where, wanted: str) -> CodecError:
    return CodecError(f"{_text(where)}: expected {wanted}, got {type(value).__name__} {_describe(value)}")


def _validator_for(tp: Any) -> Validator:  # noqa: C901, PLR0915 - one branch per supported type
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return _check_plain_value
    if tp in _EXACT_TYPES:
        wanted = tp.__name__

        def check_exact(v: Any, where: Where) -> Any:
            if type(v) is not tp:
                raise _refuse(v, where, wanted)
            return v

        return check_exact
    if tp is float:

        def check_float(v: Any, where: Where) -> float:
            if type(v) is not float and type(v) is not int:
                raise _refuse(v, where, "float")
            return float(v)

        return check_float
    if tp is type(None):

        def check_none(v: Any, where: Where) -> None:
            if v is not None:
                raise _refuse(v, where, "nil")

        return check_none
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        # A lookup by value, not ``enum_type(v)``: that would take True for 1 and 1.0 for 1,
        # and its error message reprs the whole value.
        members = {(type(m.value), m.value): m for m in tp}
        allowed = ", ".join(repr(m.value) for m in tp)

        def check_enum(v: Any, where: Where) -> Any:
            try:
                return members[(type(v), v)]
            except (KeyError, TypeError):
                raise CodecError(f"{_text(where)}: expected one of {allowed}, got {_describe(v)}") from None

        return check_enum
    if isinstance(tp, type) and issubclass(tp, Message):
        if tp not in _BUILDERS:
            raise TypeError(f"message field type {tp!r} is not a registered message; decorate it with @message")
        nested = tp

        def check_nested(v: Any, where: Where) -> Message:
            return _build(nested, v, where)

        return check_nested
    if origin in (typing.Union, types.UnionType):
        options = [_validator_for(a) for a in args]
        names = " | ".join(_type_name(a) for a in args)
        optional = type(None) in args

        def check_union(v: Any, where: Where) -> Any:
            if v is None and optional:
                return None  # the common case of an optional field, without trying the others first
            for option in options:
                try:
                    return option(v, where)
                except CodecError:
                    continue
            raise CodecError(f"{_text(where)}: expected {names}, got {type(v).__name__} {_describe(v)}")

        return check_union
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _validator_for(args[0])

        def check_tuple(v: Any, where: Where) -> tuple[Any, ...]:
            if type(v) is not list and type(v) is not tuple:
                raise _refuse(v, where, "array")
            return tuple([item(x, (where, "[", i)) for i, x in enumerate(v)])

        return check_tuple
    if origin in (dict, Mapping) and args and args[0] is str:
        value_check = _validator_for(args[1])

        def check_map(v: Any, where: Where) -> dict[str, Any]:
            if type(v) is not dict:
                raise _refuse(v, where, "map")
            out: dict[str, Any] = {}
            for k, x in v.items():
                if type(k) is not str:
                    raise _refuse(k, (where, " key", None), "str")
                out[k] = value_check(x, (where, "[", k))
            return out

        return check_map
    raise TypeError(f"message field type {tp!r} is not supported on the wire")


_PLAIN_SCALARS = frozenset((type(None), bool, int, float, str, bytes))


def _check_plain_value(v: Any, where: Where) -> Any:
    """Accept any msgpack value made of nil, bool, int, float, str, bytes, arrays and str-keyed maps.

    Return it with tuples turned into lists and maps copied. The path to a bad value (``where``
    and the keys and indexes under it) is only formatted for the error: checking a good value
    builds no strings.
    """
    if type(v) in _PLAIN_SCALARS:
        return v
    return _check_plain_container(v, where, (), 0)


def _check_plain_container(v: Any, where: Where, path: tuple[Any, ...], depth: int) -> Any:
    scalars = _PLAIN_SCALARS
    t = type(v)
    if t is not dict and t is not list and t is not tuple:
        raise CodecError(f"{_at(where, path)}: unsupported value of type {t.__name__}")
    if depth >= _MAX_PLAIN_DEPTH:
        raise CodecError(f"{_at(where, path)}: arrays and maps nested deeper than {_MAX_PLAIN_DEPTH} levels")
    if t is dict:
        for k in v:
            if type(k) is not str:
                raise CodecError(f"{_at(where, path)} key: expected str, got {type(k).__name__} {_describe(k)}")
        return {
            k: x if type(x) in scalars else _check_plain_container(x, where, (*path, k), depth + 1)
            for k, x in v.items()
        }
    return [
        x if type(x) in scalars else _check_plain_container(x, where, (*path, i), depth + 1) for i, x in enumerate(v)
    ]


def _at(where: Where, path: tuple[Any, ...]) -> str:
    return _text(where) + "".join(f"[{p!r}]" for p in path)


def _type_name(tp: Any) -> str:
    if tp is Any:
        return "any"
    if tp is type(None):
        return "nil"
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is tuple:
        return f"array[{_type_name(args[0])}]"
    if origin in (dict, Mapping):
        return f"map[str, {_type_name(args[1])}]"
    if isinstance(tp, type) and issubclass(tp, Message):
        return f"message {tp.KIND}"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "enum(" + ", ".join(repr(m.value) for m in tp) + ")"
    return getattr(tp, "__name__", str(tp))
