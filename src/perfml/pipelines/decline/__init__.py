"""Decline early warning (sales employee x month end)."""
