"""When a Flow account's used-up quota comes back: a profile's `quota_reset` setting.

Flow says only that the quota is reached (`PUBLIC_ERROR_USER_QUOTA_REACHED`, or the model's daily quota), not
when it returns (flow-api.md §2.2: "wait to next day"). So the profile says it, in one of two forms:
a number of hours after the refusal (`quota_reset = 24`), or a UTC time of day (`quota_reset = "08:00"`, the
next such instant). Until then the account takes no submission.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass

__all__ = ["DEFAULT_QUOTA_RESET", "MAX_QUOTA_RESET_HOURS", "QuotaReset", "parse_quota_reset"]

logger = logging.getLogger(__name__)

DAY = 86400.0
MAX_QUOTA_RESET_HOURS = 31 * 24.0
"""The longest wait a number of hours may name (a month of credits)."""
_TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


@dataclass(frozen=True, slots=True)
class QuotaReset:
    """Either `hours` after the refusal, or the next `minute_of_day` (UTC)."""

    hours: float | None = None
    minute_of_day: int | None = None

    def until(self, wall_now: float) -> float:
        """The wall-clock instant (seconds since the epoch) the quota is back, for a refusal at `wall_now`."""
        if self.minute_of_day is None:
            return wall_now + (self.hours if self.hours is not None else 24.0) * 3600.0
        midnight = math.floor(wall_now / DAY) * DAY
        at = midnight + self.minute_of_day * 60.0
        return at if at > wall_now else at + DAY

    def __str__(self) -> str:
        if self.minute_of_day is None:
            return f"{self.hours:g} hours after the refusal"
        hours, minutes = divmod(self.minute_of_day, 60)
        return f"{hours:02d}:{minutes:02d} UTC"


DEFAULT_QUOTA_RESET = QuotaReset(hours=24.0)
"""A day: the quota Flow reports is daily or a month's credits, so an account tries again at most once a day."""


def parse_quota_reset(value: object) -> QuotaReset:
    """The setting from a TOML value; ValueError says what is wrong (the caller names file, profile and key)."""
    if isinstance(value, bool):
        raise ValueError('must be a number of hours or a UTC time of day such as "08:00", not a boolean')
    if isinstance(value, int | float):
        if not 0 < value <= MAX_QUOTA_RESET_HOURS:
            raise ValueError(f"must be more than 0 and at most {MAX_QUOTA_RESET_HOURS:g} hours (it is {value})")
        return QuotaReset(hours=float(value))
    if isinstance(value, str):
        match = _TIME_OF_DAY.fullmatch(value.strip())
        if match is None:
            raise ValueError(f"must be a UTC time of day as HH:MM (00:00 to 23:59), not {value!r}")
        return QuotaReset(minute_of_day=int(match[1]) * 60 + int(match[2]))
    raise ValueError(f'must be a number of hours or a UTC time of day such as "08:00", not {type(value).__name__}')
