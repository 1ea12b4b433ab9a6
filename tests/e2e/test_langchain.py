"""LangChain's OpenAI integration (`langchain-openai`) against the real Qwen model, over chat
completions and over /v1/responses (`use_responses_api`): tools bound and streamed, and structured
output. Like tests/e2e/test_agents.py, it asserts the calls, their arguments and the shapes, never
the model's wording; the calls are required, so that a 0.5B model makes them."""

from __future__ import annotations

import functools
import operator
from typing import Any

import pytest
from langchain_core.messages import AIMessageChunk
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.e2e.conftest import Served

pytestmark = pytest.mark.e2e

MODEL = "qwen2.5-coder-0.5b-instruct"


@tool
def get_weather(city: str) -> str:
    """Current weather in a city."""
    return f"Sunny in {city}."


class Weather(BaseModel):
    city: str
    degrees: int


def model(served: Served, *, responses: bool) -> ChatOpenAI:
    return ChatOpenAI(model=MODEL, base_url=f"{served.url}/v1", api_key=served.key,
                      temperature=0, max_tokens=100, max_retries=0, timeout=300,
                      use_responses_api=responses)


@pytest.mark.parametrize("responses", [False, True], ids=["chat", "responses"])
def test_bound_tools_stream_a_call(served: Served, responses: bool) -> None:
    bound = model(served, responses=responses).bind_tools([get_weather], tool_choice="required")
    chunks: list[Any] = list(bound.stream("What is the weather in Paris?"))
    gathered = functools.reduce(operator.add, chunks)  # as LangChain adds up a stream's chunks
    assert len(chunks) > 1 and isinstance(gathered, AIMessageChunk)
    [call] = gathered.tool_calls
    assert call["name"] == "get_weather" and call["id"]
    assert "paris" in call["args"]["city"].lower()


@pytest.mark.parametrize("responses", [False, True], ids=["chat", "responses"])
def test_structured_output(served: Served, responses: bool) -> None:
    structured = model(served, responses=responses).with_structured_output(Weather)
    answer = structured.invoke("In Paris it is sunny and 21 degrees. Give the city and the degrees.")
    assert isinstance(answer, Weather) and answer.city.strip()
