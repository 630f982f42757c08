"""Celery tasks: thin wrappers that load inputs, call one service, persist and hand on.

Names are explicit and stable (``agents.technical_analyst``, ``execution.act``), never module paths.
"""
