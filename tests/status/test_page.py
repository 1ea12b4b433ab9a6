"""The HTML page: every value escaped, words beside every colour, no script."""

from __future__ import annotations

from datetime import UTC, date, datetime

from llmaas.status.page import render
from llmaas.status.schema import Availability, Incident, ModelStatus, Notice, Speed, StatusReport

NOW = datetime(2026, 12, 7, 10, 15, tzinfo=UTC)


def model(model_id: str, state: str, meets: bool | None) -> ModelStatus:
    return ModelStatus.model_validate({
        "id": model_id, "state": state, "lifecycle": "active", "meets_target": meets,
        "availability": Availability(last_24h=99.5, last_7d=None, last_30d=98.25, measured_minutes_30d=9),
        "last_hour": Speed(streams=2, time_to_first_token_p50_ms=183.4, tokens_per_second=None)})


def test_the_page_escapes_the_operators_names_and_says_each_state_in_words() -> None:
    report = StatusReport(
        generated_at=NOW, models=[model("<script>alert(1)</script>", "down", False), model("ok", "up", None)],
        incidents=[Incident(model="ok", started_at=NOW, ended_at=None, duration_minutes=3)],
        notices=[Notice(model="ok", lifecycle="deprecated", deprecated_at=date(2026, 9, 1),
                        retires_at=None, successor=None)])
    html = render(report)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "1 of 2 models down" in html
    assert '<span class="down">Down</span>' in html and '<span class="up">Up</span>' in html
    assert '<span class="down">missed</span>' in html and '<span class="unknown">no data</span>' in html
    assert "99.500 %" in html and "98.250 %" in html and "183.4 ms" in html
    assert "ongoing" in html and "3 min" in html
    assert 'http-equiv="refresh"' not in html and '<a href="/status">reload</a>' in html


def test_a_calm_day_says_so() -> None:
    html = render(StatusReport(generated_at=NOW, models=[model("ok", "up", True)], incidents=[], notices=[]))
    assert "All models are up." in html and "No incident in the last 30 days." in html
    assert "No model is scheduled for deprecation or retirement." in html
