"""Deterministic rule-based agents for BACKTEST (no LLM), following the seeds' decision logic."""
