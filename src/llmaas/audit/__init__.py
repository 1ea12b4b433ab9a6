"""The audit log: every administrative write, hash-chained, so an edited or deleted row shows."""

from llmaas.audit.log import ADMIN_TOKEN, LOCAL, AuditEntry, AuditLog, Draft, Outcome, Verification

__all__ = ["ADMIN_TOKEN", "LOCAL", "AuditEntry", "AuditLog", "Draft", "Outcome", "Verification"]
