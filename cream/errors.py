"""Errors named for what the caller must do (freqtrade style)."""

from __future__ import annotations


class CreamError(Exception):
    """Base of every error Cream raises on purpose."""


class ConfigurationError(CreamError):
    """The configuration is wrong: fix it and start again. Never retried."""


class UnknownInstrument(CreamError):
    """The symbol is not known to the data source or the broker: no order may reference it."""


class NoOptionData(CreamError):
    """This market source has no option chains or quotes (local history): nothing about options can be
    asked of it; any option decision stays unpriced and fails closed."""


class TransientError(CreamError):
    """A temporary failure (network, 429, 5xx): retry with backoff."""


class RejectedDefinitively(CreamError):
    """The other side said no for good: never retry."""


class AmbiguousOutcome(CreamError):
    """We do not know whether the side effect happened: reconcile by lookup, never resubmit blindly."""


class InvalidAgentOutput(CreamError):
    """An agent produced something unusable: its output counts as an error (fail closed)."""


class InvalidTrigger(CreamError):
    """A cycle trigger message failed validation: it is dropped and never starts a cycle."""


class InvalidRequest(CreamError):
    """What the user asked for cannot be done as asked (a window outside the data, an hour that is no
    cycle hour): nothing ran; the message says what to ask instead."""
