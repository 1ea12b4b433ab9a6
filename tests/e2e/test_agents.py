"""The OpenAI Agents SDK on /v1/responses, against the real Qwen model through llama-server.

An agent with two function tools, streamed, answers a question that needs both. A 0.5B model does
not reliably choose tools on its own (left free, it calls the same one again and again), so the tool
turns use `tool_choice: "required"` (the gateway generates the call under a constraint: a valid call
to one of the tools offered, or several at once, as parallel calls are allowed), and each tool is
offered until it has answered (`is_enabled`); the run ends once both have. A last turn, with no
tool left, writes the answer from the conversation the SDK sends back (function calls and their
outputs as input items) as structured output (`output_type`, sent as `text.format` json_schema):
left to write free text after tool calls, the small model writes more calls as text until its token
bound. The test asserts what the platform guarantees: the calls and their arguments, the events, the
usage, every event in OpenAI's schema, never the model's wording.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents import (
    Agent,
    FunctionTool,
    FunctionToolResult,
    ModelSettings,
    OpenAIResponsesModel,
    RunContextWrapper,
    Runner,
    ToolsToFinalOutputResult,
    set_tracing_disabled,
)
from agents.stream_events import RawResponsesStreamEvent
from openai import AsyncOpenAI
from pydantic import BaseModel

from tests.e2e.conftest import Served
from tests.openai_spec import conforms

pytestmark = pytest.mark.e2e

MODEL = "qwen2.5-coder-0.5b-instruct"
CITY: Any = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
             "additionalProperties": False}
INSTRUCTIONS = ("You have two tools: get_weather gives the weather in a city, get_time the local time "
                "in a city. Call each tool you need, one per turn, then answer in one short sentence.")
QUESTION = "First the weather in Paris, then the local time there: what are they?"
ANSWER = "Answer the user's question from the results of the tools above."


class Tools:
    """The agent's two tools, recording how they were called."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def tool(self, name: str, description: str, answer: str) -> FunctionTool:
        async def invoke(context: RunContextWrapper[Any], arguments: str) -> str:
            parsed = json.loads(arguments)  # the SDK hands over the arguments as the model wrote them
            self.calls.append((name, parsed))
            return answer.format(city=parsed.get("city", "?"))

        def unused(context: RunContextWrapper[Any], agent: Any) -> bool:
            return name not in {called for called, _ in self.calls}

        return FunctionTool(name=name, description=description, params_json_schema=CITY,
                            on_invoke_tool=invoke, strict_json_schema=True, is_enabled=unused)

    def both_called(self, context: RunContextWrapper[Any],
                    results: list[FunctionToolResult]) -> ToolsToFinalOutputResult:
        done = {name for name, _ in self.calls} == {"get_weather", "get_time"}
        return ToolsToFinalOutputResult(
            is_final_output=done, final_output=" ".join(str(r.output) for r in results) if done else None)


class Report(BaseModel):
    weather: str
    time: str


async def ask(served: Served) -> tuple[Tools, list[Any], Report]:
    """The run: tool turns until both tools answered, then the answer. Returns the tools, every raw
    Responses event received, and the answer."""
    set_tracing_disabled(True)  # the SDK would send traces to OpenAI
    async with AsyncOpenAI(base_url=f"{served.url}/v1", api_key=served.key, max_retries=0,
                           timeout=600) as client:
        return await _ask(client)


async def _ask(client: AsyncOpenAI) -> tuple[Tools, list[Any], Report]:
    tools = Tools()
    model = OpenAIResponsesModel(model=MODEL, openai_client=client)
    agent = Agent(
        name="cities", instructions=INSTRUCTIONS, model=model,
        tools=[tools.tool("get_weather", "Current weather in a city.", "Sunny, 21 degrees in {city}."),
               tools.tool("get_time", "Current local time in a city.", "It is 14:05 in {city}.")],
        model_settings=ModelSettings(temperature=0, max_tokens=100, tool_choice="required"),
        reset_tool_choice=False, tool_use_behavior=tools.both_called,
    )
    events: list[Any] = []
    run = Runner.run_streamed(agent, QUESTION, max_turns=6)
    events += [e.data async for e in run.stream_events() if isinstance(e, RawResponsesStreamEvent)]
    writer = agent.clone(instructions=ANSWER, output_type=Report, tool_use_behavior="run_llm_again",
                         model_settings=ModelSettings(temperature=0, max_tokens=100))
    answer = Runner.run_streamed(writer, run.to_input_list(), max_turns=1)
    events += [e.data async for e in answer.stream_events() if isinstance(e, RawResponsesStreamEvent)]
    assert isinstance(answer.final_output, Report)
    return tools, events, answer.final_output


def test_an_agent_calls_both_tools_and_answers(served: Served) -> None:
    tools, events, answer = asyncio.run(ask(served))
    names = [name for name, _ in tools.calls]
    assert set(names) == {"get_weather", "get_time"}, tools.calls
    assert all(set(arguments) == {"city"} and "paris" in arguments["city"].lower()
               for _, arguments in tools.calls), tools.calls
    assert answer.weather.strip() and answer.time.strip()
    for event in events:
        conforms("ResponseStreamEvent", event.model_dump(mode="json", exclude_unset=True, by_alias=True))
    completed = [e.response for e in events if e.type == "response.completed"]
    # one response per tool turn, and the answer's; "required" allows parallel calls, so a turn may
    # make both calls at once
    assert 2 <= len(completed) <= len(names) + 1
    assert all(r.usage is not None and r.usage.output_tokens > 0 for r in completed)
    assert completed[-1].text.format.type == "json_schema"
    kinds = {e.type for e in events}
    assert {"response.function_call_arguments.delta", "response.function_call_arguments.done",
            "response.output_text.delta", "response.output_text.done"} <= kinds
    sequence = [e.sequence_number for e in events if e.type == "response.created"]
    assert sequence == [0] * len(completed)
