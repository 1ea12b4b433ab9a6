"""The sovereignty report: what an auditor asks of a deployment, each promise checked against the
settings, the catalog as served, the tiers and the audit log, and stated as the code keeps it.

    findings = sovereignty_findings(settings, engine)
    broken = any(finding.status == "broken" for finding in findings)

Nothing here prints a secret: database and Redis passwords are masked, upstream URLs are reduced to
host and port, and neither the admin token nor an upstream's api_key is read.
"""

from __future__ import annotations

import ipaddress
import resource
import sys
from dataclasses import asdict, dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from llmaas.audit import AuditLog
from llmaas.auth.keys import key_hashing
from llmaas.catalog import Catalog, load_catalog
from llmaas.catalog.store import OverrideStore
from llmaas.errors import TLSConfigError
from llmaas.guardrails import Policy
from llmaas.observability.logs import ACCESS_LOG_FIELDS
from llmaas.server import is_loopback
from llmaas.settings import Settings
from llmaas.tenancy import TierService
from llmaas.tls.contexts import ServerTLS, server_minimum_version

Status = Literal["ok", "warning", "broken"]


@dataclass(frozen=True)
class Finding:
    """One promise, its state in this deployment, why, and whether it holds."""

    promise: str
    state: str
    detail: str
    status: Status

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sovereignty_findings(settings: Settings, database: Engine) -> list[Finding]:
    """Every finding, in the order an auditor reads them. CatalogError when the catalog cannot load."""
    catalog = served_catalog(settings, database)
    return [
        *listener_findings(settings),
        *egress_findings(settings, catalog),
        remote_images_finding(settings),
        Finding("API keys hashed", key_hashing().split(" ", 1)[0], key_hashing(), "ok"),
        guardrail_finding(settings, database, catalog),
        log_finding(settings),
        Finding("Usage ledger retention", f"{settings.usage_retention_days} days",
                "raw usage events are kept this long, then folded into daily totals "
                "(usage_retention_days); the ledger holds counts and prices, never content", "ok"),
        core_dump_finding(),
        database_finding(settings),
        redis_finding(settings),
        audit_finding(database),
    ]


def served_catalog(settings: Settings, database: Engine) -> Catalog:
    """The catalog `llmaas serve` would serve: the file with the database's overrides on top."""
    store = OverrideStore(database)
    base = load_catalog(settings.catalog_file, notice_months=settings.deprecation_notice_months)
    return store.apply(base, store.load())


def listener_findings(settings: Settings) -> list[Finding]:
    """TLS on the gateway's listener, and whether anything listens in plain HTTP beyond loopback."""
    # From the context the gateway serves with: TLSv1_3 reads "TLS 1.3".
    minimum = server_minimum_version().name.replace("TLSv", "TLS ").replace("_", ".")
    where = f"{settings.host}:{settings.port}"
    cert, key = settings.tls_cert_file, settings.tls_key_file
    if cert is not None and key is not None:
        try:
            tls = Finding("TLS in force", f"HTTPS, minimum {minimum}", ServerTLS(cert, key).description, "ok")
        except TLSConfigError as error:
            tls = Finding("TLS in force", "unusable certificate", f"{error}; llmaas serve refuses to start",
                          "broken")
    elif cert is not None or key is not None:
        tls = Finding("TLS in force", "half configured", "tls_cert_file and tls_key_file go together; "
                      "llmaas serve refuses to start", "broken")
    elif settings.behind_tls_proxy:
        # Trusting every address lets any client forge its address (the auth throttle's key) and scheme.
        anywhere = any(ipaddress.ip_network(entry).prefixlen == 0 for entry in settings.trusted_proxies)
        tls = Finding("TLS in force", "terminated by a proxy in front",
                      f"behind_tls_proxy; forwarding headers trusted from "
                      f"{', '.join(settings.trusted_proxies)}; the proxy's TLS is not visible from here"
                      + ("; trusting every address lets any client forge X-Forwarded-*" if anywhere else ""),
                      "warning" if anywhere else "ok")
    else:
        tls = Finding("TLS in force", "off", f"no certificate; the gateway's own HTTPS would be {minimum} "
                      "at least (--tls-cert, --tls-key)", "ok" if is_loopback(settings.host) else "broken")
    if tls.state.startswith("HTTPS"):
        plain = Finding("Plaintext listener", "none", f"{where} serves HTTPS only", "ok")
    elif is_loopback(settings.host):
        plain = Finding("Plaintext listener", "loopback only", f"{where}: reachable from this machine alone",
                        "ok")
    elif settings.behind_tls_proxy:
        plain = Finding("Plaintext listener", f"{where} to the proxy",
                        "plain HTTP beyond loopback, for the TLS-terminating proxy (behind_tls_proxy)",
                        "warning")
    else:
        plain = Finding("Plaintext listener", f"{where} in plain HTTP",
                        "API keys would cross the network in clear text; llmaas serve refuses to start "
                        "(give --tls-cert and --tls-key, or --behind-tls-proxy)", "broken")
    return [tls, plain]


def egress_findings(settings: Settings, catalog: Catalog) -> list[Finding]:
    """Every host the catalog can send prompts to, per model; plain HTTP beyond loopback is broken."""
    findings = []
    embedded = [entry.id for entry in catalog if entry.engine is not None]
    if embedded:
        state = "loopback only" if settings.embedded else "not started (embedded = false)"
        findings.append(Finding("Egress: embedded engines", state,
                                f"local worker processes of llmaas serve: {', '.join(embedded)}", "ok"))
    for entry in catalog:
        if entry.engine is not None:
            continue
        hosts, notes = [], []
        status: Status = "ok"
        for upstream in entry.upstreams:
            parts = urlsplit(upstream.url)  # host and port only: a URL may carry credentials
            host = parts.hostname or "?"
            port = parts.port or (443 if parts.scheme == "https" else 80)
            hosts.append(f"{parts.scheme}://{host}:{port}")
            if parts.scheme == "https":
                source = (f"ca_file {upstream.ca_file}" if upstream.ca_file else
                          f"upstream_ca_file {settings.upstream_ca_file}" if settings.upstream_ca_file
                          else "system CAs")
                mutual = ", client certificate" if upstream.client_cert_file else ""
                notes.append(f"{host}:{port} verified by {source}{mutual}")
            elif is_loopback(host):
                notes.append(f"{host}:{port} plain HTTP on loopback")
            else:
                notes.append(f"{host}:{port} PLAIN HTTP beyond loopback: prompts and keys in clear text")
                status = "broken"
        findings.append(Finding(f"Egress: {entry.id}", ", ".join(hosts) or "no upstream", "; ".join(notes),
                                status))
    return findings


def remote_images_finding(settings: Settings) -> Finding:
    """Whether the gateway fetches image URLs on clients' behalf, and from where."""
    if not settings.remote_image_hosts:
        return Finding("Egress: remote images", "none fetched",
                       "http(s) image URLs are refused; images arrive inline (remote_image_hosts)", "ok")
    return Finding("Egress: remote images", ", ".join(settings.remote_image_hosts),
                   f"the gateway fetches clients' image URLs from these hosts only (at most "
                   f"{settings.max_image_bytes} bytes, {settings.remote_image_timeout_s:g} s each); "
                   "each host sees the image URLs clients send it", "ok")


def guardrail_finding(settings: Settings, database: Engine, catalog: Catalog) -> Finding:
    tiers = TierService(database).list()
    state = ", ".join(f"{tier.name}: {tier.guardrail.value}" for tier in tiers) or "no tiers"
    screened = settings.guardrail_model in {entry.id for entry in catalog}
    detail = ("a key's own policy wins over its tier's; " + (
        f"prompts screened by {settings.guardrail_model}" if screened else
        f"screening skipped: the catalog has no {settings.guardrail_model}"))
    off = any(tier.guardrail is Policy.OFF for tier in tiers)
    return Finding("Guardrail policy per tier", state, detail, "warning" if off or not screened else "ok")


def log_finding(settings: Settings) -> Finding:
    detail = (f"access log: {', '.join(ACCESS_LOG_FIELDS)} (metadata only); tracebacks without exception "
              "messages; prompts, answers, audio and images never logged")
    if settings.log_level == "DEBUG":
        return Finding("Logs", "DEBUG", f"{detail}; at DEBUG the engines' own output joins the log",
                       "warning")
    return Finding("Logs", settings.log_level, detail, "ok")


def core_dump_finding() -> Finding:
    soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
    shown = ["unlimited" if limit == resource.RLIM_INFINITY else str(limit) for limit in (soft, hard)]
    dumpable = ("; on Linux every process is also marked not dumpable (no ptrace, no /proc/PID/mem)"
                if sys.platform == "linux" else "")
    return Finding("Core dumps", "off in llmaas serve",
                   f"llmaas serve sets RLIMIT_CORE to 0 (soft and hard) before any engine starts; the "
                   f"engines inherit it{dumpable}. This command's own RLIMIT_CORE, for information: "
                   f"soft {shown[0]}, hard {shown[1]}", "ok")


def database_finding(settings: Settings) -> Finding:
    url = make_url(settings.resolved_database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        return Finding("Database", "SQLite file", shown, "ok")
    mode = str(url.query.get("sslmode") or url.query.get("ssl") or "")
    if mode == "verify-full":
        return Finding("Database", "TLS, host verified", shown, "ok")
    if not url.host or is_loopback(url.host):
        return Finding("Database", "loopback or local socket", shown, "ok")
    if mode in ("require", "verify-ca", "true"):
        return Finding("Database", f"TLS without host verification ({mode})",
                       f"{shown}; use sslmode=verify-full", "warning")
    return Finding("Database", "no TLS beyond loopback", f"{shown}; use sslmode=verify-full", "warning")


def redis_finding(settings: Settings) -> Finding:
    if settings.redis_url is None:
        return Finding("Redis", "not used", "rate limits and budgets kept in process", "ok")
    parts = urlsplit(settings.redis_url)
    host = parts.hostname or ""
    shown = f"{parts.scheme}://{'***@' if parts.password or parts.username else ''}{host}" + (
        f":{parts.port}" if parts.port else "") + parts.path
    if parts.scheme == "rediss":
        insecure = parse_qs(parts.query).get("ssl_cert_reqs", [""])[0].lower() in ("none", "optional")
        return Finding("Redis", "TLS" + (" without verification" if insecure else ""), shown,
                       "warning" if insecure else "ok")
    if parts.scheme == "unix" or is_loopback(host):
        return Finding("Redis", "loopback or local socket", shown, "ok")
    return Finding("Redis", "no TLS beyond loopback", f"{shown}; use rediss://", "warning")


def audit_finding(database: Engine) -> Finding:
    result = AuditLog(database).verify()
    if result.ok:
        return Finding("Audit chain", "verified", f"{result.rows} rows, none edited, deleted or moved", "ok")
    where = f"row {result.bad_seq}" if result.bad_seq is not None else "the chain's head"
    return Finding("Audit chain", f"tampered at {where}",
                   f"{result.reason} ({result.rows} rows before it are intact)", "broken")


__all__ = ["Finding", "sovereignty_findings"]
