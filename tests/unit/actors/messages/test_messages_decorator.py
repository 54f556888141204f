"""The @message decorator: what it accepts, what it refuses at class creation, and its registry."""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

import pytest

from swarmnode.actors.messages import (
    CodecError,
    Message,
    _base,
    from_body,
    load_all_messages,
    message,
    message_class,
    message_kinds,
    message_schema,
    to_body,
)


@pytest.fixture(autouse=True)
def forget_made_kinds() -> Iterator[None]:
    """Unregister the classes a test made, so that tests can reuse kinds and leave no trace.

    Only classes from this module are forgotten: a project module imported during the test
    stays imported, and its kinds must stay registered.
    """
    yield
    for kind, cls in list(_base._REGISTRY.items()):
        if cls.__module__ == __name__:
            del _base._REGISTRY[kind], _base._SCHEMAS[kind], _base._FIELD_NAMES[cls], _base._BUILDERS[cls]


def make(kind: str | None, annotations: dict[str, Any] | None = None, **namespace: Any) -> type[Message]:
    """Return a new, undecorated Message subclass with the given KIND and field annotations."""
    if kind is not None:
        namespace["KIND"] = kind
    namespace["__annotations__"] = annotations or {}
    namespace["__module__"] = __name__
    return type("Made", (Message,), namespace)


class Shade(enum.Enum):
    DARK = "dark"
    LIGHT = "light"


def test_a_class_without_kind_is_refused():
    with pytest.raises(TypeError, match="message class Made needs a KIND string"):
        message(make(None, {"x": int}))


@pytest.mark.parametrize("kind", ["", 3, None, b"TestBytes"])
def test_a_kind_that_is_not_a_nonempty_string_is_refused(kind: Any):
    with pytest.raises(TypeError, match="needs a KIND string"):
        message(make(None, KIND=kind))


def test_an_inherited_kind_does_not_count():
    parent = message(make("TestParent", {"x": int}))
    child = type("Child", (parent,), {"__module__": __name__})
    with pytest.raises(TypeError, match="message class Child needs a KIND string"):
        message(child)


def test_a_duplicate_kind_is_refused_and_the_first_class_stays():
    first = message(make("TestTwice", {"x": int}))
    with pytest.raises(TypeError, match="message kind 'TestTwice' is registered twice"):
        message(make("TestTwice", {"y": str}))
    assert message_class("TestTwice") is first
    assert message_schema()["TestTwice"] == {"x": "int"}


def test_a_project_kind_cannot_be_taken_by_another_class():
    load_all_messages()
    with pytest.raises(TypeError, match="message kind 'Ping' is registered twice"):
        message(make("Ping"))


class Plain:
    pass


class Unregistered(Message):
    KIND = "TestUnregistered"


UNSUPPORTED = [
    list[int],
    set[str],
    frozenset[int],
    tuple[int, str],
    tuple[()],
    dict[int, str],
    dict[bytes, str],
    tuple,
    dict,
    list,
    object,
    complex,
    Plain,
    int | list[int],
    tuple[list[int], ...],
    dict[str, set[int]],
    Unregistered,
    Message,
]


@pytest.mark.parametrize("field_type", UNSUPPORTED, ids=repr)
def test_an_unsupported_field_type_is_refused_at_class_creation(field_type: Any):
    before = message_schema()
    with pytest.raises(TypeError, match=r"message field type .* is not"):
        message(make("TestUnsupported", {"ok": int, "bad": field_type}))
    assert message_schema() == before  # nothing half-registered


SUPPORTED: list[tuple[Any, str]] = [
    (bool, "bool"),
    (int, "int"),
    (float, "float"),
    (str, "str"),
    (bytes, "bytes"),
    (type(None), "nil"),
    (Any, "any"),
    (int | None, "int | nil"),
    (tuple[str, ...], "array[str]"),
    (dict[str, float], "map[str, float]"),
    (Mapping[str, bytes], "map[str, bytes]"),
    (dict[str, tuple[int | None, ...]], "map[str, array[int | nil]]"),
    (Shade, "enum('dark', 'light')"),
]


@pytest.mark.parametrize(("field_type", "name"), SUPPORTED, ids=repr)
def test_a_supported_field_type_is_named_in_the_schema(field_type: Any, name: str):
    message(make("TestSupported", {"x": field_type}))
    assert message_schema()["TestSupported"] == {"x": name}


def test_a_nested_message_is_named_by_its_kind():
    inner = message(make("TestInner", {"x": int}))
    message(make("TestOuter", {"inner": inner, "maybe": inner | None}))
    assert message_schema()["TestOuter"] == {"inner": "message TestInner", "maybe": "message TestInner | nil"}


def test_the_decorator_registers_the_dataclass_it_returns():
    cls = message(make("TestRegistered", {"x": int}))
    assert message_class("TestRegistered") is cls
    assert "TestRegistered" in message_kinds()
    assert message_kinds() == sorted(message_kinds())
    assert from_body("TestRegistered", {"x": 1}) == cls(x=1)
    assert to_body(cls(x=1)) == {"x": 1}


def test_kind_is_a_class_constant_not_a_field():
    cls = message(make("TestConstant", {"x": int, "KIND": ClassVar[str]}))
    assert [f.name for f in dataclasses.fields(cls)] == ["x"]
    assert cls(x=1).KIND == "TestConstant"


def test_messages_are_frozen():
    cls = message(make("TestFrozen", {"x": int}))
    msg = cls(x=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.x = 2


def test_messages_are_slotted():
    cls = message(make("TestSlotted", {"x": int}))
    msg = cls(x=1)
    assert cls.__slots__ == ("x",)
    assert not hasattr(msg, "__dict__")
    # Python 3.11's frozen __setattr__ refers to the class from before slots were added, so
    # a name that is not a field gives TypeError rather than AttributeError: refused either way.
    with pytest.raises((AttributeError, TypeError)):
        msg.y = 2


def test_every_project_message_is_a_frozen_slotted_dataclass():
    load_all_messages()
    for kind in message_kinds():
        cls = message_class(kind)
        assert dataclasses.is_dataclass(cls), kind
        assert cls.__dataclass_params__.frozen, kind
        assert "__slots__" in vars(cls), kind
        assert kind == cls.KIND


@pytest.mark.parametrize("kind", [["Ping"], {"k": 1}, 3, None])
def test_asking_for_a_kind_that_is_not_a_string_raises_codec_error(kind: Any):
    with pytest.raises(CodecError):
        message_class(kind)


def test_asking_for_an_unknown_kind_raises_codec_error():
    with pytest.raises(CodecError, match="unknown message kind 'TestNowhere'"):
        from_body("TestNowhere", {})
