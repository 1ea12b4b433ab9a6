"""/admin/api: tenants, tiers, keys and usage, for the console and for automation."""
