"""Recipes: whole configuration tasks as data (parameters -> desired items).

Run one with :mod:`postfix_conf.pipeline`: ``plan(config_dir, relay_auth(RelayAuth(...)))``.
"""

from .relay_auth import RecipeError, RelayAuth, relay_auth, remove_relay_auth

__all__ = ["RecipeError", "RelayAuth", "relay_auth", "remove_relay_auth"]
