"""Cream: an autonomous trading system for US equities and options.

This package holds everything that is neither a Celery task nor the numeric engine:
domain schemas, storage, services, ports and adapters, rule-based agents, the CLI.
"""

__version__ = "0.1.0"
