"""`cream schema`: the JSON Schema of every message, for systems that produce or consume them."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel, TypeAdapter

from cream.schemas import agents, decisions, market, orders, trigger
from cream.schemas.instruments import Instrument

MESSAGES: dict[str, type[BaseModel]] = {
    "CycleTrigger": trigger.CycleTrigger,
    "DecisionPlan": decisions.DecisionPlan,
    "Decision": decisions.Decision,
    "FeatureSnapshot": market.FeatureSnapshot,
    "Candle": market.Candle,
    "Quote": market.Quote,
    "TechnicalAnalysisOutput": agents.TechnicalAnalysisOutput,
    "SentimentAnalysisOutput": agents.SentimentAnalysisOutput,
    "FundamentalsAnalysisOutput": agents.FundamentalsAnalysisOutput,
    "BullishResearchOutput": agents.BullishResearchOutput,
    "BearishResearchOutput": agents.BearishResearchOutput,
    "ApprovalVerdict": agents.ApprovalVerdict,
    "OrderRequest": orders.OrderRequest,
    "OrderUpdate": orders.OrderUpdate,
    "PortfolioSnapshot": orders.PortfolioSnapshot,
}


def write_schemas(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in MESSAGES.items():
        path = out / f"{name}.schema.json"
        path.write_text(json.dumps(model.model_json_schema(), indent=2) + "\n")
        written.append(path)
    path = out / "Instrument.schema.json"
    path.write_text(json.dumps(TypeAdapter(Instrument).json_schema(), indent=2) + "\n")
    return [*written, path]
