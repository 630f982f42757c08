"""Language models behind one port (``LanguageModel``); adapters live beside it."""

from cream.llm.port import LanguageModel, LlmReply, LlmRequest

__all__ = ["LanguageModel", "LlmReply", "LlmRequest"]
