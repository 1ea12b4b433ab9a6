"""Every request field of docs/api.md's tables, as decided there: honoured fields reach the engine,
refused ones are a 400 naming them before any engine is asked, and fields without effect are
accepted and never forwarded."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.audio import silent_wav
from tests.fakes import FakeEngine
from tests.gateway.conftest import Platform
from tests.gateway.test_errors import assert_error
from tests.gateway.test_request_fields import send

CHAT, COMPLETIONS = "/v1/chat/completions", "/v1/completions"
EMBEDDINGS, RERANK = "/v1/embeddings", "/v1/rerank"
TRANSCRIPTIONS, TRANSLATIONS = "/v1/audio/transcriptions", "/v1/audio/translations"
BODIES: dict[str, dict[str, Any]] = {
    CHAT: {"model": "chat-model", "messages": [{"role": "user", "content": "x"}]},
    COMPLETIONS: {"model": "chat-model", "prompt": "x"},
    EMBEDDINGS: {"model": "embed-model", "input": "x"},
    RERANK: {"model": "embed-model", "query": "q", "documents": ["d"]},
    TRANSCRIPTIONS: {"model": "speech-multi"},
    TRANSLATIONS: {"model": "speech-multi"},
}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
SCHEMA = {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "object"}}}

# (endpoint, fields sent, what the engine must receive)
HONOURED: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (CHAT, {"frequency_penalty": 0.5}, {"frequency_penalty": 0.5}),
    (CHAT, {"presence_penalty": -0.5}, {"presence_penalty": -0.5}),
    (CHAT, {"logit_bias": {"42": -100}}, {"logit_bias": {"42": -100}}),
    (CHAT, {"logprobs": True, "top_logprobs": 3}, {"logprobs": True, "top_logprobs": 3}),
    (CHAT, {"max_tokens": 9}, {"max_tokens": 9}),
    (CHAT, {"max_completion_tokens": 9}, {"max_tokens": 9}),
    (CHAT, {"n": 1}, {"n": 1}),
    (CHAT, {"response_format": SCHEMA}, {"response_format": SCHEMA}),
    (CHAT, {"seed": 7}, {"seed": 7}),
    (CHAT, {"stop": ["END"]}, {"stop": ["END"]}),
    (CHAT, {"stream": True, "stream_options": {"include_usage": True}},
     {"stream": True, "stream_options": {"include_usage": True}}),
    (CHAT, {"temperature": 0.3, "top_p": 0.9}, {"temperature": 0.3, "top_p": 0.9}),
    (CHAT, {"tools": [TOOL], "tool_choice": "auto", "parallel_tool_calls": False},
     {"tools": [TOOL], "tool_choice": "auto", "parallel_tool_calls": False}),
    (COMPLETIONS, {"best_of": 1, "n": 1}, {"best_of": 1, "n": 1}),
    (COMPLETIONS, {"echo": True, "suffix": "!"}, {"echo": True, "suffix": "!"}),
    (COMPLETIONS, {"frequency_penalty": 1, "presence_penalty": 1},
     {"frequency_penalty": 1, "presence_penalty": 1}),
    (COMPLETIONS, {"logit_bias": {"1": 5}, "logprobs": 2}, {"logit_bias": {"1": 5}, "logprobs": 2}),
    (COMPLETIONS, {"max_tokens": 5, "seed": 1, "stop": "x"}, {"max_tokens": 5, "seed": 1, "stop": "x"}),
    (COMPLETIONS, {"temperature": 1.5, "top_p": 0.5}, {"temperature": 1.5, "top_p": 0.5}),
    (COMPLETIONS, {"stream": True}, {"stream": True}),
    (EMBEDDINGS, {"encoding_format": "base64", "dimensions": 2},
     {"encoding_format": "base64", "dimensions": 2}),
    (RERANK, {"top_n": 1, "return_documents": True}, {"top_n": 1, "return_documents": True}),
    (TRANSCRIPTIONS, {"language": "fr", "prompt": "p", "temperature": "0.4"},
     {"language": "fr", "prompt": "p", "temperature": "0.4"}),
    (TRANSCRIPTIONS, {"response_format": "verbose_json", "timestamp_granularities[]": "word"},
     {"response_format": "verbose_json", "timestamp_granularities[]": "word"}),
    (TRANSLATIONS, {"prompt": "p", "response_format": "srt", "temperature": "0"},
     {"prompt": "p", "response_format": "srt", "temperature": "0.0"}),
]

# (endpoint, fields sent): accepted, never forwarded
NO_EFFECT: list[tuple[str, dict[str, Any]]] = [
    (CHAT, {"user": "u-1"}),
    (CHAT, {"metadata": {"a": "b"}}),
    (CHAT, {"store": False}),
    (CHAT, {"service_tier": "priority"}),
    (CHAT, {"safety_identifier": "hash-of-user"}),
    (CHAT, {"prompt_cache_key": "k"}),
    (CHAT, {"prompt_cache_retention": "24h"}),
    (CHAT, {"prompt_cache_options": {"ttl": "1h"}}),
    (CHAT, {"modalities": ["text"]}),
    (CHAT, {"stream_options": {"include_obfuscation": False}}),
    (CHAT, {"stream": True, "stream_options": {"include_usage": False, "include_obfuscation": True}}),
    (COMPLETIONS, {"user": "u-1"}),
    (EMBEDDINGS, {"user": "u-1"}),
    (TRANSCRIPTIONS, {"stream": "false"}),
]

# (endpoint, fields sent, the param the 400 names)
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (CHAT, {"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
    (CHAT, {"modalities": ["text", "audio"]}, "modalities"),
    (CHAT, {"functions": [TOOL["function"]]}, "functions"),
    (CHAT, {"function_call": "auto"}, "function_call"),
    (CHAT, {"moderation": {"model": "omni-moderation-latest"}}, "moderation"),
    (CHAT, {"prediction": {"type": "content", "content": "x"}}, "prediction"),
    (CHAT, {"reasoning_effort": "low"}, "reasoning_effort"),
    (CHAT, {"verbosity": "low"}, "verbosity"),
    (CHAT, {"web_search_options": {}}, "web_search_options"),
    (CHAT, {"n": 2}, "n"),
    (CHAT, {"store": True}, "store"),
    (CHAT, {"top_logprobs": 21}, "top_logprobs"),
    (COMPLETIONS, {"n": 3}, "n"),
    (COMPLETIONS, {"best_of": 2}, "best_of"),
    (COMPLETIONS, {"logprobs": 6}, "logprobs"),
    (EMBEDDINGS, {"dimensions": 3}, "dimensions"),
    (TRANSCRIPTIONS, {"stream": "true"}, "stream"),
    (TRANSCRIPTIONS, {"include[]": "logprobs"}, "include[]"),
    (TRANSCRIPTIONS, {"chunking_strategy": "auto"}, "chunking_strategy"),
    (TRANSCRIPTIONS, {"known_speaker_names[]": "ann"}, "known_speaker_names[]"),
    (TRANSLATIONS, {"language": "fr"}, "language"),
    (TRANSLATIONS, {"timestamp_granularities[]": "segment"}, "timestamp_granularities[]"),
]


def call(platform: Platform, path: str, fields: dict[str, Any]) -> httpx.Response:
    if path in (TRANSCRIPTIONS, TRANSLATIONS):
        return httpx.post(f"{platform.url}{path}", data={**BODIES[path], **fields},
                          files={"file": ("a.wav", silent_wav(1.0))},
                          headers={"Authorization": f"Bearer {platform.key}"})
    return send(platform, path, {**BODIES[path], **fields})


def sent(engine: FakeEngine, path: str) -> dict[str, Any]:
    return engine.forms[-1] if path in (TRANSCRIPTIONS, TRANSLATIONS) else engine.requests[-1]


def asked(engine: FakeEngine) -> int:
    return len(engine.requests) + len(engine.forms)


@pytest.mark.parametrize(("path", "fields", "expected"), HONOURED,
                         ids=[f"{p}:{','.join(f)}" for p, f, _ in HONOURED])
def test_honoured_fields_reach_the_engine(
    platform: Platform, engine: FakeEngine, path: str, fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    response = call(platform, path, fields)
    assert response.status_code == 200, response.text
    body = sent(engine, path)
    assert {name: body.get(name) for name in expected} == expected


@pytest.mark.parametrize(("path", "fields"), NO_EFFECT, ids=[f"{p}:{','.join(f)}" for p, f in NO_EFFECT])
def test_fields_without_effect_are_accepted_and_not_forwarded(
    platform: Platform, engine: FakeEngine, path: str, fields: dict[str, Any]
) -> None:
    response = call(platform, path, fields)
    assert response.status_code == 200, response.text
    body = sent(engine, path)
    for name, value in fields.items():
        if name == "stream_options":
            assert "include_obfuscation" not in (body.get(name) or {})
        elif name != "stream" or value == "false":
            assert name not in body


@pytest.mark.parametrize(("path", "fields", "param"), REFUSED, ids=[f"{p}:{q}" for p, _, q in REFUSED])
def test_refused_fields_are_a_400_naming_them(
    platform: Platform, engine: FakeEngine, path: str, fields: dict[str, Any], param: str
) -> None:
    before = asked(engine)
    assert_error(call(platform, path, fields), 400, param=param)
    assert asked(engine) == before
