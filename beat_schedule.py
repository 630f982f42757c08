"""Celery beat schedule: data only (task names as strings, schedules), no task code imported.

The hourly trading cycle runs on the hour from 10:00 to 15:00 New York time on NYSE trading days
(10:00 to 12:00 on early-close days); weekends, holidays and early closes come from the calendar.
"""

from __future__ import annotations

from cream import clock
from cream.market_calendar import SessionHourly
from cream.timeouts import OPTION_WATCH_EVERY, RECONCILE_EVERY, RECOVER_EVERY, RECOVER_EXPIRES, TRIGGER_GRACE

BEAT_SCHEDULE = {
    "trading-cycle-hourly": {
        "task": "cycles.scheduled",
        "schedule": SessionHourly(nowfun=clock.now),
        "options": {"queue": "cycles", "expires": TRIGGER_GRACE.total_seconds()},
    },
    "reconcile-with-broker": {  # PAPER and LIVE: protection and broker-side exits between cycles
        "task": "execution.reconcile",
        "schedule": RECONCILE_EVERY,
        "options": {"queue": "execution", "expires": RECONCILE_EVERY.total_seconds() * 0.8},
    },
    "watch-option-exits": {  # PAPER and LIVE: a held option's stop and target, which no broker order holds
        "task": "execution.watch_options",
        "schedule": OPTION_WATCH_EVERY,
        "options": {"queue": "execution", "expires": OPTION_WATCH_EVERY.total_seconds() * 0.8},
    },
    "resume-stalled-cycles": {
        "task": "cycles.recover",
        "schedule": RECOVER_EVERY,
        "options": {"queue": "cycles", "expires": RECOVER_EXPIRES.total_seconds()},
    },
}
