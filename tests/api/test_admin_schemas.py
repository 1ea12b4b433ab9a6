"""The admin API's wire models against the services' facts they show."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from llmaas.api.admin.schemas import AliasUpdate, AuditEntryPublic, UsageGroup
from llmaas.metering.ledger import SUMMED


def test_a_usage_group_shows_every_summed_counter_with_cost_in_euros() -> None:
    # Declared apart on purpose (a ledger change must not change the API unseen): this keeps them level.
    shown = ["cost_eur" if name == "cost_nano" else name for name in SUMMED]
    assert list(UsageGroup.model_fields) == ["group", *shown]


def test_answers_show_what_is_stored_where_inputs_refuse_a_nul() -> None:
    # A row stored before inputs refused NUL (SQLite keeps it) must not make the audit listing a 500.
    row = {"seq": 1, "created_at": datetime.now(UTC), "actor": "admin-token", "action": "alias.set",
           "target_type": "alias", "target": "a\x00b", "source": "local", "outcome": "ok",
           "error_code": None, "details": {"fields": ["x\x00"]}, "hash": "0" * 64}
    assert AuditEntryPublic(**row).target == "a\x00b"
    with pytest.raises(ValidationError, match="NUL"):
        AliasUpdate(model="a\x00b")
