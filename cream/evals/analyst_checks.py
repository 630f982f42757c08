"""Checks of the per-symbol agents: the three analysts and the two researchers."""

from __future__ import annotations

from cream.evals.subject import Check, Subject, event_risk

# Levels further than this from the price are not something the snapshot supports (the critic's bound).
MAX_LEVEL_DISTANCE = 0.25
NEUTRAL_SENTIMENT = 0.25  # |sentiment| allowed with no news or event in the snapshot


def symbol_echoed(s: Subject) -> list[str]:
    said = s.output.get("symbol")
    return [] if said == s.symbol else [f"answers about {said!r}, asked about {s.symbol}"]


# --- technical analyst ---------------------------------------------------------------------------


def invalidation_brackets_price(s: Subject) -> list[str]:
    lo, hi, price = s.output["invalidation_long"], s.output["invalidation_short"], s.snapshot.price
    if lo < price < hi:
        return []
    return [f"{s.symbol}: needs invalidation_long {lo} < price {price} < invalidation_short {hi}"]


def support_below_resistance(s: Subject) -> list[str]:
    levels = s.output["key_levels"]
    if levels["support"] <= levels["resistance"]:
        return []
    return [f"{s.symbol}: support {levels['support']} above resistance {levels['resistance']}"]


def levels_plausible(s: Subject) -> list[str]:
    price = s.snapshot.price
    out, key_levels = s.output, s.output["key_levels"]
    levels = {"support": key_levels["support"], "resistance": key_levels["resistance"],
              "invalidation_long": out["invalidation_long"], "invalidation_short": out["invalidation_short"]}
    far = [f"{k} {v}" for k, v in levels.items() if abs(v / price - 1) > MAX_LEVEL_DISTANCE]
    if not far:
        return []
    return [f"{s.symbol}: {', '.join(far)} more than {MAX_LEVEL_DISTANCE:.0%} from price {price}"]


# --- news analyst --------------------------------------------------------------------------------


def event_ids_exist(s: Subject) -> list[str]:
    known = {e.event_id for e in s.snapshot.external_events}
    made_up = [i["event_id"] for i in s.output["event_impacts"] if i["event_id"] not in known]
    return [f"{s.symbol}: event ids not in the snapshot: {made_up}"] if made_up else []


def flags_event_risk(s: Subject) -> list[str]:
    risky = event_risk(s.snapshot)
    if not risky or s.output["event_risk"]:
        return []
    e = risky[0]
    return [f"{s.symbol}: event_risk false with {e.kind.value} '{e.headline}' at {e.ts:%Y-%m-%d %H:%M}Z"]


def neutral_without_news(s: Subject) -> list[str]:
    if any(e.symbol in (None, s.symbol) for e in s.snapshot.external_events):
        return []
    sentiment = s.output["overall_sentiment"]
    if abs(sentiment) <= NEUTRAL_SENTIMENT:
        return []
    return [f"{s.symbol}: sentiment {sentiment:+.2f} with no news or event in the snapshot"]


# --- fundamentals analyst ------------------------------------------------------------------------


def score_matches_valuation(s: Subject) -> list[str]:
    valuation, score = s.output["valuation"], s.output["fundamental_score"]
    wrong = (valuation == "UNDERVALUED" and score < 0) or (valuation == "OVERVALUED" and score > 0)
    return [f"{s.symbol}: valuation {valuation} with fundamental_score {score:+.2f}"] if wrong else []


# --- researchers ---------------------------------------------------------------------------------


def conviction_in_range(s: Subject) -> list[str]:
    c = s.output.get("conviction")
    ok = isinstance(c, (int, float)) and 0.0 <= c <= 1.0
    return [] if ok else [f"{s.symbol}: conviction {c!r} outside [0, 1]"]


TECHNICAL: dict[str, Check] = {
    "symbol_echoed": symbol_echoed, "invalidation_brackets_price": invalidation_brackets_price,
    "support_below_resistance": support_below_resistance, "levels_plausible": levels_plausible,
}
NEWS: dict[str, Check] = {
    "symbol_echoed": symbol_echoed, "event_ids_exist": event_ids_exist, "flags_event_risk": flags_event_risk,
    "neutral_without_news": neutral_without_news,
}
FUNDAMENTALS: dict[str, Check] = {
    "symbol_echoed": symbol_echoed, "score_matches_valuation": score_matches_valuation,
}
RESEARCH: dict[str, Check] = {"symbol_echoed": symbol_echoed, "conviction_in_range": conviction_in_range}
