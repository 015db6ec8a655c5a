"""Live checks against real servers: will mail leave through the relay, can a stranger relay."""
