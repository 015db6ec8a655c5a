"""Recipes: whole, idempotent configuration tasks built from the document edits."""

from .relay_auth import ApplyResult, Operation, RelayAuth, RelayAuthPlan, apply_relay_auth, plan_relay_auth

__all__ = ["ApplyResult", "Operation", "RelayAuth", "RelayAuthPlan", "apply_relay_auth", "plan_relay_auth"]
