"""The admin API's wire models against the services' facts they show."""

from __future__ import annotations

from llmaas.api.admin.schemas import UsageGroup
from llmaas.metering.ledger import SUMMED


def test_a_usage_group_shows_every_summed_counter_with_cost_in_euros() -> None:
    # Declared apart on purpose (a ledger change must not change the API unseen): this keeps them level.
    shown = ["cost_eur" if name == "cost_nano" else name for name in SUMMED]
    assert list(UsageGroup.model_fields) == ["group", *shown]
