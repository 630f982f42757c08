"""Celery beat schedule: data only (task names as strings, schedules), no task code imported.

The hourly trading cycle runs on the hour from 10:00 to 15:00 New York time on NYSE trading days
(10:00 to 12:00 on early-close days); weekends, holidays and early closes come from the calendar.
"""

from __future__ import annotations

from datetime import timedelta

from cream.market_calendar import SessionHourly

BEAT_SCHEDULE = {
    "trading-cycle-hourly": {
        "task": "cycles.scheduled",
        "schedule": SessionHourly(),
        "options": {"queue": "cycles", "expires": 15 * 60},
    },
    "resume-stalled-cycles": {
        "task": "cycles.recover",
        "schedule": timedelta(minutes=5),
        "options": {"queue": "cycles", "expires": 4 * 60},
    },
}
