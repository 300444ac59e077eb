"""Decoding a client frame into a Request, and explaining a bad one in plain words with its field path.

The fast path is one msgspec decode into the tagged union. Only when it fails does a second, cheap decode
of the frame's `id` and `type` (skipping everything else) recover the request's id for the error and the
request type whose fields describe the problem. Descriptions come from the Structs' own constraints, so the
messages cannot drift from the limits they explain.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Final

import msgspec
from msgspec import inspect

from veo_protocol.errors import ErrorCode, ProtocolError
from veo_protocol.requests import REQUEST_TYPES, SECRET_FIELDS, Request, RequestId

__all__ = ["decode_request"]

logger = logging.getLogger(__name__)

_DECODER: Final[msgspec.json.Decoder[Request]] = msgspec.json.Decoder(Request)


class _Envelope(msgspec.Struct):
    """The two fields an error needs, each kept as raw JSON so that nothing else is built."""

    id: msgspec.Raw = msgspec.Raw()
    type: msgspec.Raw = msgspec.Raw()


_ENVELOPE: Final = msgspec.json.Decoder(_Envelope)
_ID: Final = msgspec.json.Decoder(RequestId)
_TAG: Final = msgspec.json.Decoder(str)

_AT: Final = " - at `$"
"""How msgspec's error text ends when it names a path: `... - at `$.field[2]``."""
_PATH_PART: Final = re.compile(r"\.([A-Za-z_]\w*)|\[(\d+)\]")
_NOT_AN_OBJECT: Final = re.compile(r"Expected `object`, got `(\w+)`")
_MISSING: Final = re.compile(r"Object missing required field `(.*)`", re.DOTALL)
_UNKNOWN: Final = re.compile(r"Object contains unknown field `(.*)`", re.DOTALL)
_GOT: Final = re.compile(r"got `([^`]+)`")
_BAD_VALUE: Final = re.compile(r"Invalid (?:enum )?value '(.*)'", re.DOTALL)
_OUT_OF_BOUNDS: Final = re.compile(r"Expected `(str|array|int)` (of length )?([<>])=? ?(-?\d+)")
_BOUND_DETAIL: Final = {
    ("str", ">"): "; this one is too short",
    ("str", "<"): "; this one is too long",
    ("array", ">"): "; this one has too few items",
    ("array", "<"): "; this one has too many items",
    ("int", ">"): "; this one is too small",
    ("int", "<"): "; this one is too large",
}
_KINDS: Final = {
    "str": "a string",
    "int": "an integer",
    "float": "a decimal number",
    "bool": "true or false",
    "null": "null",
    "array": "a list",
    "object": "an object",
}
_TYPE_LIST: Final = ", ".join(REQUEST_TYPES)
_QUOTE_LIMIT: Final = 60


def decode_request(frame: bytes | str) -> Request:
    """The request in a frame, or ProtocolError(bad_json | bad_message) naming the problem and its field."""
    try:
        return _DECODER.decode(frame)
    except msgspec.ValidationError as exc:
        error = str(exc)
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, _json_problem(exc)) from None
    not_object = _NOT_AN_OBJECT.fullmatch(error)
    if not_object:
        message = f"a request must be a JSON object, not {_KINDS.get(not_object[1], not_object[1])}"
        raise ProtocolError(ErrorCode.BAD_JSON, message)
    try:  # the main decode stops at the first invalid value; these also check the rest is UTF-8 JSON
        if not isinstance(frame, str):
            frame.decode()
        envelope = _ENVELOPE.decode(frame)
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.BAD_JSON, _json_problem(exc)) from None
    request_id = _decoded(_ID, envelope.id)
    tag = _decoded(_TAG, envelope.type)
    field, message = _explain(error, REQUEST_TYPES.get(tag) if tag is not None else None)
    raise ProtocolError(ErrorCode.BAD_MESSAGE, message, field=field, request_id=request_id)


def request_id_of(frame: bytes | str) -> str | None:
    """The `id` of a frame that will not be decoded in full (a refused flood), or None; never raises."""
    try:
        return _decoded(_ID, _ENVELOPE.decode(frame).id)
    except (msgspec.DecodeError, UnicodeError, RecursionError):
        return None


def _decoded(decoder: msgspec.json.Decoder[str], raw: msgspec.Raw) -> str | None:
    """The raw value decoded, or None when it is absent or invalid."""
    if not raw:
        return None
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, UnicodeError):
        return None


def _json_problem(exc: Exception) -> str:
    """Plain words for a frame that is not JSON."""
    if isinstance(exc, UnicodeError):
        return "the frame is not valid UTF-8 text"
    if isinstance(exc, RecursionError):
        return "the frame's JSON is nested too deeply"
    text = str(exc)
    if text == "Input data was truncated":
        return "the frame is not JSON: it is empty or ends too early"
    return f"the frame is not JSON: {text.removeprefix('JSON is malformed: ')}"


def _explain(error: str, request_type: type[Request] | None) -> tuple[str | None, str]:
    """The field path and a plain message for msgspec's ValidationError text."""
    problem, path = _split_path(error)
    field = _field_path(path)
    if missing := _MISSING.fullmatch(problem):
        field = _join(field, missing[1])
        return field, f"{field} is required: {_describe(field, request_type)}"
    if unknown := _UNKNOWN.fullmatch(problem):
        name = _clip(unknown[1])
        if request_type is None:
            return _join(field, name), f"unknown field {name!r}"
        allowed = ", ".join(("id", *(n for n in request_type.__struct_fields__ if n != "id")))
        tag = request_type.__struct_config__.tag
        return _join(field, name), f"unknown field {name!r} in a {tag} request; its fields are: {allowed}"
    if field == "type" and (bad := _BAD_VALUE.fullmatch(problem)):
        return field, f"unknown request type {_clip(bad[1])!r}; the types are: {_TYPE_LIST}"
    return field, f"{field or 'the request'} must be {_describe(field, request_type)}{_detail(problem, field)}"


def _split_path(error: str) -> tuple[str, str]:
    """The problem and the path (`.field[2]`, or empty) of msgspec's error text.

    String operations, not a regular expression: the text quotes the client's own values (an unknown field's
    name may be 60,000 characters), and a regex that tries every position took milliseconds of the loop.
    """
    problem, at, path = error.rpartition(_AT)
    if not at or not path.endswith("`") or "`" in path[:-1]:
        return error, ""
    return problem, path[:-1]


def _field_path(path: str) -> str | None:
    """`$.prompts[3]` as `prompts[3]` (msgspec's path without the `$.`); None for the whole message."""
    return path.removeprefix(".") or None


def _join(path: str | None, name: str) -> str:
    return f"{path}.{name}" if path else name


def _clip(text: str) -> str:
    return text if len(text) <= _QUOTE_LIMIT else text[:_QUOTE_LIMIT] + "…"


def _detail(problem: str, field: str | None) -> str:
    """What was wrong with the value, from msgspec's text (never a secret field's value)."""
    if got := _GOT.search(problem):
        kinds = got[1].split(" | ")
        return ", not " + " or ".join(_KINDS.get(kind, kind) for kind in kinds)
    if (bad := _BAD_VALUE.fullmatch(problem)) and _leaf_name(field) not in SECRET_FIELDS:
        return f", not {_clip(bad[1])!r}"
    if bound := _OUT_OF_BOUNDS.match(problem):
        kind, relation, limit = bound[1], bound[3], int(bound[4])
        if relation == ">" and limit == 1 and kind in {"str", "array"}:
            return "; this one is empty"
        return _BOUND_DETAIL.get((kind, relation), "")
    if problem.startswith("Number out of range"):
        return "; this one is far out of range"
    return ""


def _leaf_name(field: str | None) -> str:
    names = [m[1] for m in _PATH_PART.finditer("." + (field or "")) if m[1]]
    return names[-1] if names else ""


def _describe(field: str | None, request_type: type[Request] | None) -> str:
    """What the field must hold, from the request type's constraints."""
    if field == "type":
        return f"one of {_TYPE_LIST}"
    if field == "id":
        return _phrase(inspect.type_info(RequestId))
    node = _resolve(field, request_type)
    return _phrase(node) if node is not None else "valid"


def _resolve(field: str | None, request_type: type[Request] | None) -> inspect.Type | None:
    """The msgspec type at a path inside a request type, or None when it cannot be followed."""
    if field is None or request_type is None:
        return None
    node: inspect.Type | None = None
    for name, index in _PATH_PART.findall("." + field):
        if name:
            if node is not None:
                return None
            node = _fields(request_type).get(name)
        elif node is not None and index:
            node = _unwrap(node)
            node = node.item_type if isinstance(node, inspect.ListType) else None
        if node is None:
            return None
    return node


@functools.cache
def _fields(request_type: type[Request]) -> dict[str, inspect.Type]:
    info = inspect.type_info(request_type)
    assert isinstance(info, inspect.StructType)
    return {f.encode_name: f.type for f in info.fields}


def _unwrap(node: inspect.Type) -> inspect.Type:
    """The type without its description and without `| None`."""
    if isinstance(node, inspect.Metadata):
        return _unwrap(node.type)
    if isinstance(node, inspect.UnionType):
        types = [t for t in node.types if not isinstance(t, inspect.NoneType)]
        if len(types) == 1:
            return _unwrap(types[0])
    return node


def _phrase(node: inspect.Type) -> str:
    """A type and its limits in plain words."""
    if isinstance(node, inspect.Metadata):
        description: Any = (node.extra_json_schema or {}).get("description")
        return str(description) if description else _phrase(node.type)
    if isinstance(node, inspect.UnionType):
        return " or ".join(_phrase(t) for t in node.types if not isinstance(t, inspect.NoneType))
    if isinstance(node, inspect.StrType):
        return _sized("a string", "a non-empty string", node.min_length, node.max_length, "characters")
    if isinstance(node, inspect.IntType):
        return _int_phrase(node)
    if isinstance(node, inspect.EnumType):
        return "one of " + ", ".join(repr(member.value) for member in node.cls)
    if isinstance(node, inspect.LiteralType):
        return "one of " + ", ".join(repr(value) for value in node.values)
    if isinstance(node, inspect.UUIDType):
        return "a UUID such as '0b7e6c1a-3f1d-4c2e-9a8b-5d4c3b2a1f00'"
    if isinstance(node, inspect.ListType):
        items = _sized("a list", "a non-empty list", node.min_length, node.max_length, "items")
        return f"{items}, each {_phrase(node.item_type)}"
    return "valid"


def _sized(plain: str, non_empty: str, low: int | None, high: int | None, unit: str) -> str:
    if high is not None:
        return f"{plain} of {low or 0:,} to {high:,} {unit}"
    if low == 1:
        return non_empty
    if low:
        return f"{plain} of at least {low:,} {unit}"
    return plain


def _int_phrase(node: inspect.IntType) -> str:
    if node.ge is not None and node.le is not None:
        return f"an integer from {node.ge:,} to {node.le:,}"
    if node.ge is not None:
        return f"an integer of at least {node.ge:,}"
    if node.le is not None:
        return f"an integer of at most {node.le:,}"
    return "an integer"
