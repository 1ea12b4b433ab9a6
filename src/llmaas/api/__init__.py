"""HTTP faces of the platform, kept thin: parse, call the gateway or a service, render."""
