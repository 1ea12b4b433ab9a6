"""`llmaas tls`: a development certificate, and reloading the served one.

    llmaas tls self-signed --out certs                     cert.pem and key.pem for localhost
    llmaas serve --tls-cert certs/cert.pem --tls-key certs/key.pem
    curl --cacert certs/cert.pem https://localhost:8000/health
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmaas.cli.common import ConfigOption, console, out, signal_reload
from llmaas.tls import DEFAULT_HOSTS, write_self_signed

app = typer.Typer(help="TLS certificates: make a development one, reload the served one.",
                  no_args_is_help=True)


@app.command("self-signed")
def self_signed(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for cert.pem and key.pem.")],
    hosts: Annotated[
        list[str] | None,
        typer.Option("--host", help="A name or IP address the certificate is for; repeat for more. "
                     f"Default: {', '.join(DEFAULT_HOSTS)}."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, help="Days the certificate is valid.")] = 365,
) -> None:
    """Write a self-signed certificate and its key (readable by its owner only), for development.

    No CA is involved: clients trust the certificate itself (`curl --cacert cert.pem`; Python:
    `ssl.create_default_context(cafile="cert.pem")`). Production takes a certificate from the
    operator's CA or ACME. Files already there are replaced; a running server picks the new pair up
    with `llmaas tls reload`.

    Example: llmaas tls self-signed --out certs --host llm.internal --host 10.0.0.5
    """
    files = write_self_signed(out_dir, list(hosts or DEFAULT_HOSTS), days=days)
    console.print(f"Self-signed certificate for {', '.join(hosts or DEFAULT_HOSTS)}, valid {days} days:")
    out.print(f"certificate: {files.cert}", soft_wrap=True)
    out.print(f"key: {files.key}", soft_wrap=True)


@app.command("reload")
def reload(config: ConfigOption = None) -> None:
    """Make the running `llmaas serve` read its certificate and key again, without a restart (SIGHUP).

    New connections get the new certificate; open ones keep theirs. A pair that cannot be used is
    refused and logged by the server, which keeps the certificate it had. The catalog is reloaded too.
    """
    signal_reload(config, action="tls.reload", target_type="tls")
    console.print("Asked the server to reload its certificate; its log says how it went.")
