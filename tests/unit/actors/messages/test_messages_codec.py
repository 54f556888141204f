"""The envelope codec: every field type round trips, and any other bytes raise only CodecError.

The message classes below exist only for these tests. They register globally like any
message, under kinds that start with ``Test``; the golden schema test counts only messages
defined inside the ``swarmnode`` package, so they never reach the wire contract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any, Optional

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmnode.actors.messages import (
    MAX_MESSAGE_BYTES,
    WIRE_VERSION,
    Address,
    CodecError,
    Envelope,
    Message,
    Ping,
    decode_envelope,
    encode_envelope,
    load_all_messages,
    message,
    message_class,
    message_kinds,
    message_schema,
    to_body,
)

# Modest and derandomized: the suite stays fast and every run tries the same examples.
SETTINGS = settings(max_examples=200, deadline=None, derandomize=True, database=None)


class Colour(enum.StrEnum):
    RED = "red"
    GREEN = "green"
    BLUE = "blue"


@message
class Scalars(Message):
    KIND = "TestScalars"
    flag: bool
    count: int
    ratio: float
    name: str
    blob: bytes
    colour: Colour


class Priority(enum.Enum):
    LOW = 1
    HIGH = 2


@message
class Ranked(Message):
    KIND = "TestRanked"
    priority: Priority
    priorities: dict[str, Priority]


@message
class Optionals(Message):
    KIND = "TestOptionals"
    maybe_count: int | None
    maybe_name: Optional[str]  # noqa: UP045 - the typing.Union spelling must work too
    maybe_scalars: Scalars | None = None
    nothing: None = None


@message
class Containers(Message):
    KIND = "TestContainers"
    counts: tuple[int, ...]
    many_scalars: tuple[Scalars, ...]
    ratios: dict[str, float]
    names_by_key: Mapping[str, tuple[str, ...]]
    colours: tuple[Colour, ...] = ()


@message
class Anything(Message):
    KIND = "TestAnything"
    value: Any
    values: dict[str, Any]
    items: tuple[Any, ...] = ()


@message
class Nesting(Message):
    KIND = "TestNesting"
    inner: Containers
    optional: Optionals | None
    either: int | str | bytes


@message
class Empty(Message):
    KIND = "TestEmpty"


TEST_CLASSES: tuple[type[Message], ...] = (
    Scalars,
    Optionals,
    Containers,
    Anything,
    Nesting,
    Empty,
    Ranked,
)


# --- strategies ------------------------------------------------------------------------------

INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what msgpack can carry
FLOATS = st.floats(allow_nan=False)  # NaN != NaN would fail equality, not the codec
SCALARS = st.none() | st.booleans() | INTS | FLOATS | st.text() | st.binary()
PLAIN = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
SIMPLE: dict[Any, st.SearchStrategy[Any]] = {
    bool: st.booleans(),
    int: INTS,
    float: FLOATS,
    str: st.text(),
    bytes: st.binary(),
    type(None): st.none(),
}


def values_for(tp: Any) -> st.SearchStrategy[Any]:
    """Return a strategy for the values a message field of type ``tp`` may hold."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return PLAIN
    if tp in SIMPLE:
        return SIMPLE[tp]
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(values_for(a) for a in args))
    if origin is tuple:
        return st.lists(values_for(args[0]), max_size=4).map(tuple)
    if origin in (dict, Mapping):
        return st.dictionaries(st.text(max_size=8), values_for(args[1]), max_size=4)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return st.sampled_from(tp)
    if isinstance(tp, type) and issubclass(tp, Message):
        return messages_of(tp)
    raise AssertionError(f"no strategy for field type {tp!r}: add one to values_for")


def messages_of(cls: type[Message]) -> st.SearchStrategy[Message]:
    hints = typing.get_type_hints(cls)
    fields = {f.name: values_for(hints[f.name]) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return st.builds(cls, **fields)


IDS = st.integers(min_value=0, max_value=2**63 - 1)
ADDRESSES = st.builds(Address, node=st.text(max_size=128), actor=st.text(max_size=128))
TEST_BODIES = st.one_of(*(messages_of(c) for c in TEST_CLASSES))


def envelopes(bodies: st.SearchStrategy[Message]) -> st.SearchStrategy[Envelope]:
    return st.builds(Envelope, id=IDS, reply_to=IDS, src=ADDRESSES, dst=ADDRESSES, body=bodies)


def raw_envelope(msg: Message, **header: Any) -> dict[str, Any]:
    """Return a valid envelope as the plain map msgpack carries, with ``header`` overriding fields."""
    raw: dict[str, Any] = {
        "v": WIRE_VERSION,
        "kind": msg.KIND,
        "id": 7,
        "reply_to": 0,
        "src": ["node-a", "alice"],
        "dst": ["node-b", "bob"],
        "body": to_body(msg),
    }
    raw.update(header)
    return raw


def decode_error(raw: Any) -> CodecError:
    """Return the CodecError that decoding ``raw`` (packed with msgpack) raises."""
    with pytest.raises(CodecError) as info:
        decode_envelope(msgpack.packb(raw, use_bin_type=True))
    return info.value


SCALARS_BODY = Scalars(flag=True, count=3, ratio=0.5, name="n", blob=b"b", colour=Colour.RED)
# Values whose repr is short enough to appear whole in an error text.
SHORT_TEXT = st.text(st.characters(codec="ascii"), max_size=12)
TINY_TEXT = st.text(st.characters(codec="ascii"), max_size=3)
SHORT_BINARY = st.binary(max_size=8)
SHORT_LISTS = st.lists(st.integers(0, 9), min_size=1, max_size=3)


# --- round trips -----------------------------------------------------------------------------


def test_the_test_messages_use_every_field_type_the_validator_supports():
    names = " ".join(t for c in TEST_CLASSES for t in message_schema()[c.KIND].values())
    for wanted in ("bool", "int", "float", "str", "bytes", "nil", "array[", "map[str, ", "message ", "enum("):
        assert wanted in names
    assert "any" in names.split()


@SETTINGS
@given(envelopes(TEST_BODIES))
def test_every_field_type_round_trips(env: Envelope):
    data = encode_envelope(env)
    decoded = decode_envelope(data)
    assert decoded == env
    assert type(decoded.body) is type(env.body)
    assert encode_envelope(decoded) == data


@SETTINGS
@given(st.data())
def test_every_project_message_round_trips(data: st.DataObject):
    load_all_messages()
    kinds = [k for k in message_kinds() if message_class(k).__module__.startswith("swarmnode.")]
    env = data.draw(envelopes(st.sampled_from(kinds).flatmap(lambda k: messages_of(message_class(k)))))
    assert decode_envelope(encode_envelope(env)) == env


def test_omitted_fields_with_defaults_take_their_default():
    assert decode_envelope(msgpack.packb(raw_envelope(Ping(), body={}))).body == Ping(payload=b"")


def test_a_float_field_accepts_an_int_and_holds_a_float():
    body = to_body(SCALARS_BODY) | {"ratio": 2}
    ratio = decode_envelope(msgpack.packb(raw_envelope(SCALARS_BODY, body=body))).body.ratio
    assert ratio == 2.0
    assert type(ratio) is float


# --- random bytes ----------------------------------------------------------------------------


def decodes_or_refuses(data: bytes) -> None:
    """Decode ``data``; a CodecError is fine, any other exception fails the test."""
    with contextlib.suppress(CodecError):
        decode_envelope(data)


@SETTINGS
@given(st.binary(max_size=512))
def test_random_bytes_raise_only_codec_error(data: bytes):
    decodes_or_refuses(data)


MSGPACK_VALUES = st.recursive(
    SCALARS | st.builds(msgpack.ExtType, st.integers(0, 127), st.binary(max_size=8)),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8) | st.binary(max_size=4), inner, max_size=5)
    ),
    max_leaves=20,
)


@SETTINGS
@given(MSGPACK_VALUES)
def test_random_msgpack_values_raise_only_codec_error(value: Any):
    decodes_or_refuses(msgpack.packb(value, use_bin_type=True))


@SETTINGS
@given(envelopes(TEST_BODIES), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4))
def test_envelopes_with_overwritten_bytes_raise_only_codec_error(env: Envelope, writes: list[tuple[int, int]]):
    data = bytearray(encode_envelope(env))
    for index, byte in writes:
        data[index % len(data)] = byte
    decodes_or_refuses(bytes(data))


@SETTINGS
@given(envelopes(TEST_BODIES), st.integers(0, 10_000))
def test_truncated_envelopes_raise_codec_error(env: Envelope, cut: int):
    data = encode_envelope(env)
    with pytest.raises(CodecError, match="not a msgpack message"):
        decode_envelope(data[: cut % len(data)])


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Return the path to every node inside nested lists and maps, the root excluded."""
    found: list[tuple[Any, ...]] = []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found.append((*prefix, key))
        found.extend(paths(child, (*prefix, key)))
    return found


@SETTINGS
@given(envelopes(TEST_BODIES), st.data())
def test_envelopes_with_a_replaced_value_raise_only_codec_error(env: Envelope, data: st.DataObject):
    raw = msgpack.unpackb(encode_envelope(env))
    path = data.draw(st.sampled_from(paths(raw)))
    parent = raw
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = data.draw(MSGPACK_VALUES)
    decodes_or_refuses(msgpack.packb(raw, use_bin_type=True))


def nested_list_bytes(depth: int) -> bytes:
    return b"\x91" * depth + b"\x01"  # fixarray of one element, ``depth`` times, around 1


def envelope_with_deep_value(field: str, body_field: str | None = None, msg: Message | None = None) -> bytes:
    """Return an envelope whose ``field`` (or body field) is a list nested 1000 levels deep."""
    marker = "\x00deep\x00"
    raw = raw_envelope(msg or Anything(value=None, values={}))
    if body_field is None:
        raw[field] = marker
    else:
        raw["body"][body_field] = marker
    packed = msgpack.packb(raw, use_bin_type=True)
    return packed.replace(msgpack.packb(marker), nested_list_bytes(1000), 1)


@pytest.mark.parametrize("field", ["v", "id", "reply_to", "src", "dst", "kind", "body"])
def test_a_deeply_nested_header_value_raises_codec_error(field: str):
    with pytest.raises(CodecError):
        decode_envelope(envelope_with_deep_value(field))


def test_a_deeply_nested_any_value_raises_codec_error_naming_the_field():
    with pytest.raises(CodecError, match=r"TestAnything\.value\[0\]\[0\].*nested deeper than"):
        decode_envelope(envelope_with_deep_value("body", "value"))


def test_a_deeply_nested_value_in_a_typed_field_raises_codec_error_naming_the_field():
    with pytest.raises(CodecError, match=r"TestAnything\.values: expected map, got list \[\["):
        decode_envelope(envelope_with_deep_value("body", "values"))


def test_a_deeply_nested_value_in_an_enum_field_raises_codec_error_naming_the_field():
    with pytest.raises(CodecError, match=r"TestScalars\.colour: expected one of 'red', 'green', 'blue', got \[\["):
        decode_envelope(envelope_with_deep_value("body", "colour", SCALARS_BODY))


# --- structured garbage: the envelope --------------------------------------------------------

ENVELOPE_FIELDS = ("v", "kind", "id", "reply_to", "src", "dst", "body")


def test_bytes_that_are_not_msgpack_are_refused():
    with pytest.raises(CodecError, match="not a msgpack message"):
        decode_envelope(b"\xc1")


def test_an_envelope_that_is_not_a_map_is_refused():
    assert str(decode_error([1, 2])) == "envelope must be a map, not list"


@SETTINGS
@given(st.sampled_from(ENVELOPE_FIELDS))
def test_a_missing_envelope_field_is_named(field: str):
    raw = raw_envelope(SCALARS_BODY)
    del raw[field]
    assert str(decode_error(raw)) == f"envelope fields: missing {field}"


@SETTINGS
@given(SHORT_TEXT.filter(lambda k: k not in ENVELOPE_FIELDS))
def test_an_extra_envelope_field_is_named(field: str):
    raw = raw_envelope(SCALARS_BODY) | {field: 1}
    assert str(decode_error(raw)) == f"envelope fields: unknown {field!r}"


@SETTINGS
@given(
    st.one_of(
        INTS.filter(lambda v: v != WIRE_VERSION),
        st.booleans(),
        st.just(float(WIRE_VERSION)),
        FLOATS,
        SHORT_TEXT,
        SHORT_BINARY,
        st.none(),
        SHORT_LISTS,
    )
)
def test_a_wrong_wire_version_is_named(version: Any):
    text = str(decode_error(raw_envelope(SCALARS_BODY, v=version)))
    assert text == f"wire version {version!r} is not supported (this node speaks {WIRE_VERSION})"


@SETTINGS
@given(
    st.sampled_from(["id", "reply_to"]),
    st.one_of(
        st.integers(min_value=-(2**63), max_value=-1),
        st.integers(min_value=2**63, max_value=2**64 - 1),
        st.booleans(),
        FLOATS,
        SHORT_TEXT,
        SHORT_BINARY,
        st.none(),
        SHORT_LISTS,
    ),
)
def test_a_wrong_envelope_id_is_named(field: str, value: Any):
    error = decode_error(raw_envelope(SCALARS_BODY, **{field: value}))
    assert str(error) == f"envelope {field} must be an integer from 0 to 2**63-1, got {value!r}"
    # A bad id leaves nothing to answer to; a bad reply_to still leaves the sender's id and address.
    if field == "id":
        assert (error.envelope_id, error.src) == (None, None)
    else:
        assert (error.envelope_id, error.src) == (7, ("node-a", "alice"))


@SETTINGS
@given(
    st.sampled_from(["src", "dst"]),
    st.one_of(
        SHORT_TEXT,
        st.none(),
        INTS,
        st.lists(TINY_TEXT, max_size=3).filter(lambda v: len(v) != 2),
        st.tuples(TINY_TEXT, INTS | st.none() | SHORT_BINARY).map(list),
        st.tuples(SHORT_BINARY, TINY_TEXT).map(list),
        st.dictionaries(TINY_TEXT, TINY_TEXT, max_size=1),
    ),
)
def test_a_wrong_address_is_named(field: str, value: Any):
    error = decode_error(raw_envelope(SCALARS_BODY, **{field: value}))
    assert str(error) == f"envelope {field} must be [node id, actor name] strings, got {value!r}"
    expected = (None, None) if field == "src" else (7, ("node-a", "alice"))
    assert (error.envelope_id, error.src) == expected


@pytest.mark.parametrize("field", ["src", "dst"])
@pytest.mark.parametrize("which", [0, 1])
def test_an_address_part_over_128_characters_is_refused(field: str, which: int):
    address = ["n", "a"]
    address[which] = "x" * 129
    with pytest.raises(CodecError, match=f"envelope {field} must be"):
        decode_envelope(msgpack.packb(raw_envelope(SCALARS_BODY, **{field: address})))
    address[which] = "x" * 128
    decode_envelope(msgpack.packb(raw_envelope(SCALARS_BODY, **{field: address})))


@SETTINGS
@given(st.one_of(INTS, st.booleans(), st.none(), SHORT_BINARY, SHORT_LISTS))
def test_a_kind_that_is_not_a_string_is_refused_with_the_header(kind: Any):
    error = decode_error(raw_envelope(SCALARS_BODY, kind=kind, id=41))
    assert str(error) == f"envelope kind must be a string, not {type(kind).__name__}"
    assert (error.envelope_id, error.src) == (41, ("node-a", "alice"))


@SETTINGS
@given(SHORT_TEXT.filter(lambda k: k not in message_kinds()))
def test_an_unknown_kind_is_named_with_the_header(kind: str):
    error = decode_error(raw_envelope(SCALARS_BODY, kind=kind, id=42))
    assert str(error) == f"unknown message kind {kind!r}"
    assert (error.envelope_id, error.src) == (42, ("node-a", "alice"))


def test_a_message_over_the_limit_is_refused_before_parsing():
    data = encode_envelope(Envelope(1, 0, Address("n", "a"), Address("n", "b"), Ping(b"x" * 100)))
    assert decode_envelope(data, max_bytes=len(data)).body == Ping(b"x" * 100)
    with pytest.raises(CodecError) as info:
        decode_envelope(data, max_bytes=len(data) - 1)
    assert str(info.value) == f"message of {len(data)} bytes is over the limit of {len(data) - 1} bytes"
    assert info.value.envelope_id is None


def test_the_default_limit_is_max_message_bytes():
    with pytest.raises(CodecError, match=f"over the limit of {MAX_MESSAGE_BYTES} bytes"):
        decode_envelope(b"\x00" * (MAX_MESSAGE_BYTES + 1))


# --- structured garbage: the body ------------------------------------------------------------

# For each field of Scalars, values of every other type.
WRONG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "flag": INTS | FLOATS | SHORT_TEXT | SHORT_BINARY | st.none() | SHORT_LISTS,
    "count": st.booleans() | FLOATS | SHORT_TEXT | SHORT_BINARY | st.none() | SHORT_LISTS,
    "ratio": st.booleans() | SHORT_TEXT | SHORT_BINARY | st.none() | SHORT_LISTS,
    "name": st.booleans() | INTS | FLOATS | SHORT_BINARY | st.none() | SHORT_LISTS,
    "blob": st.booleans() | INTS | FLOATS | SHORT_TEXT | st.none() | SHORT_LISTS,
    "colour": (
        st.booleans()
        | INTS
        | SHORT_TEXT.filter(lambda v: v not in {c.value for c in Colour})
        | SHORT_BINARY
        | st.none()
    ),
}


@SETTINGS
@given(
    envelopes(messages_of(Scalars)),
    st.sampled_from(sorted(WRONG_VALUES)).flatmap(lambda f: st.tuples(st.just(f), WRONG_VALUES[f])),
)
def test_a_body_field_of_the_wrong_type_is_named_with_its_value(env: Envelope, field_and_value: tuple[str, Any]):
    field, value = field_and_value
    raw = msgpack.unpackb(encode_envelope(env))
    raw["body"][field] = value
    error = decode_error(raw)
    assert str(error).startswith(f"TestScalars.{field}: expected ")
    assert str(error).endswith(repr(value))
    assert error.envelope_id == env.id
    assert error.src == (env.src.node, env.src.actor)


@SETTINGS
@given(envelopes(TEST_BODIES), st.data())
def test_a_bad_body_keeps_the_envelope_id_and_src(env: Envelope, data: st.DataObject):
    raw = msgpack.unpackb(encode_envelope(env))
    raw["body"] = data.draw(st.one_of(MSGPACK_VALUES, st.just(raw["body"] | {"not_a_field": 1})))
    try:
        decode_envelope(msgpack.packb(raw, use_bin_type=True))
    except CodecError as error:
        assert (error.envelope_id, error.src) == (env.id, (env.src.node, env.src.actor))


def body_error(body: Message, **fields: Any) -> str:
    raw = raw_envelope(body)
    raw["body"].update(fields)
    return str(decode_error(raw))


def test_a_bool_where_an_int_is_expected_is_refused():
    assert body_error(SCALARS_BODY, count=True) == "TestScalars.count: expected int, got bool True"


def test_an_int_where_a_bool_is_expected_is_refused():
    assert body_error(SCALARS_BODY, flag=1) == "TestScalars.flag: expected bool, got int 1"


def test_a_bool_where_a_float_is_expected_is_refused():
    assert body_error(SCALARS_BODY, ratio=False) == "TestScalars.ratio: expected float, got bool False"


def test_a_value_outside_an_enum_is_refused_listing_the_allowed_values():
    expected = "TestScalars.colour: expected one of 'red', 'green', 'blue', got 'pink'"
    assert body_error(SCALARS_BODY, colour="pink") == expected
    assert body_error(SCALARS_BODY, colour=b"red").endswith("got b'red'")


def test_an_enum_of_ints_refuses_bools_and_floats():
    ranked = Ranked(priority=Priority.LOW, priorities={})
    assert body_error(ranked, priority=True) == "TestRanked.priority: expected one of 1, 2, got True"
    assert body_error(ranked, priority=1.0) == "TestRanked.priority: expected one of 1, 2, got 1.0"
    assert body_error(ranked, priorities={"a": False}).startswith("TestRanked.priorities['a']: expected one of")
    raw = raw_envelope(ranked)
    raw["body"]["priority"] = 2
    assert decode_envelope(msgpack.packb(raw)).body == Ranked(priority=Priority.HIGH, priorities={})


def test_a_missing_body_field_is_named():
    raw = raw_envelope(SCALARS_BODY)
    del raw["body"]["count"]
    assert str(decode_error(raw)) == "TestScalars: missing field 'count'"


def test_unknown_body_fields_are_named():
    assert body_error(SCALARS_BODY, zeta=1, alpha=2) == "TestScalars: unknown field(s) 'alpha', 'zeta'"


def test_a_body_that_is_not_a_map_is_refused():
    raw = raw_envelope(SCALARS_BODY, body=[1])
    assert str(decode_error(raw)) == "TestScalars: body must be a map, not list"


CONTAINERS_BODY = Containers(counts=(1,), many_scalars=(SCALARS_BODY,), ratios={}, names_by_key={})


def test_an_error_inside_an_array_of_messages_gives_the_path():
    bad = to_body(SCALARS_BODY) | {"count": "3"}
    text = body_error(CONTAINERS_BODY, many_scalars=[to_body(SCALARS_BODY), bad])
    assert text == "TestContainers.many_scalars[1].count: expected int, got str '3'"


def test_an_error_inside_a_map_gives_the_key():
    text = body_error(CONTAINERS_BODY, ratios={"a": 1.0, "b": "x"})
    assert text == "TestContainers.ratios['b']: expected float, got str 'x'"


def test_a_map_key_that_is_not_a_string_is_refused():
    text = body_error(CONTAINERS_BODY, ratios={b"k": 1.0})
    assert text == "TestContainers.ratios key: expected str, got bytes b'k'"


def test_a_value_matching_no_member_of_a_union_lists_them():
    nesting = Nesting(inner=CONTAINERS_BODY, optional=None, either=1)
    assert body_error(nesting, either=1.5) == "TestNesting.either: expected int | str | bytes, got float 1.5"
    assert body_error(nesting, optional=[]).startswith("TestNesting.optional: expected message TestOptionals | nil")


def test_an_unsupported_value_in_an_any_field_is_refused():
    text = body_error(Anything(value=None, values={}), values={"x": msgpack.ExtType(1, b"")})
    assert text == "TestAnything.values['x']: unsupported value of type ExtType"


def test_a_long_value_is_shortened_in_the_error():
    text = body_error(SCALARS_BODY, count="y" * 10_000)
    assert text.startswith("TestScalars.count: expected int, got str 'yyy")
    assert len(text) < 120
