"""The web console under /console: single sign-on through the operator's and each tenant's own OpenID
Connect provider, roles checked on every request, and pages over the same services as the admin API."""

from llmaas.console.links import issue_login_link
from llmaas.console.site import create_console

__all__ = ["create_console", "issue_login_link"]
