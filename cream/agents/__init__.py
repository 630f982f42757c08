"""The eight agents: their port, the context they read, and the rule-based implementation."""
