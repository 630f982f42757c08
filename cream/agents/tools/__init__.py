"""Tools the LLM agents may call during a cycle (function calling): quotes, indicators, portfolio,
option chain and Greeks, and a memory of this book's past decisions.

    box = ToolBox(ctx, market)
    request_tools = box.specs(AgentType.TRADER)   # declarations for the model
    reply = box.call(tool_call)                   # {"result": ...} or {"error": "..."}; never raises
"""

from cream.agents.tools.box import TOOLS, TOOLS_BY_AGENT, ToolBox

__all__ = ["TOOLS", "TOOLS_BY_AGENT", "ToolBox"]
