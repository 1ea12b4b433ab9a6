"""TLS: the gateway's HTTPS (TLS 1.3 only, certificate reloaded on SIGHUP), verified connections to
https:// engines, and development certificates (`llmaas tls self-signed`)."""

from llmaas.tls.certificates import DEFAULT_HOSTS, CertificateFiles, check_pair, write_self_signed
from llmaas.tls.contexts import ServerTLS, client_context

__all__ = ["DEFAULT_HOSTS", "CertificateFiles", "ServerTLS", "check_pair", "client_context",
           "write_self_signed"]
