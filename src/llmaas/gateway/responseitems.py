"""The objects of OpenAI's Responses API that the gateway writes: the response and its output items.

Both /v1/responses answers use them: the whole response (responses.py) and the streamed events
(responsestreams.py). Ids are fresh per answer; nothing refers back to them later (nothing is stored).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from llmaas.wire.responses_api import CreateResponseRequest, FunctionChoice

JSONObject = dict[str, Any]


def response_object(request: CreateResponseRequest, *, model: str, status: str) -> JSONObject:
    """A response object echoing the request's settings, with no output yet."""
    form = request.text.format if request.text and request.text.format else None
    choice = request.tool_choice
    return {
        "id": f"resp_{uuid.uuid4().hex}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": request.instructions,
        "max_output_tokens": request.max_output_tokens,
        "max_tool_calls": None,
        "model": model,
        "output": [],
        "parallel_tool_calls": request.parallel_tool_calls is not False,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "service_tier": "default",
        "store": False,
        "temperature": request.temperature if request.temperature is not None else 1.0,
        "text": {"format": form.model_dump(exclude_none=True, by_alias=True) if form else {"type": "text"}},
        "tool_choice": choice.model_dump() if isinstance(choice, FunctionChoice) else choice or "auto",
        "tools": [{"description": None, "parameters": None, "strict": None,
                   **tool.model_dump(exclude_none=True)} for tool in request.tools or []],
        "top_p": request.top_p if request.top_p is not None else 1.0,
        "truncation": "disabled",
        "metadata": dict(request.metadata or {}),
    }


def message_item(text: str, *, status: str = "completed", item_id: str | None = None) -> JSONObject:
    return {"id": item_id or new_id("msg"), "type": "message", "status": status, "role": "assistant",
            "content": [output_text(text)] if status == "completed" else []}


def output_text(text: str) -> JSONObject:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(call_id: str, name: str, arguments: str, *, status: str = "completed",
                       item_id: str | None = None) -> JSONObject:
    return {"id": item_id or new_id("fc"), "type": "function_call", "status": status,
            "call_id": call_id, "name": name, "arguments": arguments}


def response_usage(usage: Any) -> JSONObject | None:
    """An engine's chat usage as the Responses API counts it."""
    if not isinstance(usage, dict):
        return None
    given, taken = usage.get("prompt_tokens"), usage.get("completion_tokens")
    given = given if isinstance(given, int) else 0
    taken = taken if isinstance(taken, int) else 0
    return {"input_tokens": given, "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": taken, "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": given + taken}


def ended(answer: JSONObject, finish_reason: Any) -> None:
    """Mark a response finished: incomplete when the answer hit its length bound."""
    if finish_reason == "length":
        answer["status"] = "incomplete"
        answer["incomplete_details"] = {"reason": "max_output_tokens"}
        for item in answer["output"]:
            if item["type"] == "message":  # its text was cut
                item["status"] = "incomplete"
    else:
        answer["status"] = "completed"
    answer["completed_at"] = int(time.time())


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"
