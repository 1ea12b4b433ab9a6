"""OpenAI's error body and its SSE event, byte for byte."""

from __future__ import annotations

import orjson

from llmaas.wire.errors import error_body, error_event, error_json


def test_the_body_has_all_four_fields_in_openai_order() -> None:
    body = error_body("Missing required parameter: 'model'.", type="invalid_request_error", param="model")
    assert list(body["error"]) == ["message", "type", "param", "code"]
    assert error_json("No.", type="server_error", code="x") == (
        b'{"error":{"message":"No.","type":"server_error","param":null,"code":"x"}}'
    )


def test_an_error_event_is_one_sse_event_of_the_same_body() -> None:
    event = error_event("The engine stopped before finishing the answer.", code="upstream_error")
    assert event.startswith(b"data: ") and event.endswith(b"\n\n") and event.count(b"\n") == 2
    assert orjson.loads(event[6:]) == error_body(
        "The engine stopped before finishing the answer.", type="server_error", code="upstream_error"
    )
