"""Component health with its history: status, reason, and when it last changed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from contracts.envelope import utc_now

Status = Literal["healthy", "degraded", "unhealthy"]
SEVERITY: dict[Status, int] = {"healthy": 0, "degraded": 1, "unhealthy": 2}


@dataclass(frozen=True)
class Finding:
    """What one check found just now."""

    component: str
    status: Status
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ComponentState:
    """A component's current status and since when it has had it."""

    status: Status
    reason: str
    since: datetime
    checked_at: datetime
    details: dict[str, Any]


@dataclass(frozen=True)
class Change:
    """A component whose status changed in this round."""

    component: str
    previous: Status | None
    current: Status
    reason: str
    at: datetime


class HealthReport:
    """The latest finding per component; remembers changes so they are announced once."""

    def __init__(self) -> None:
        self.components: dict[str, ComponentState] = {}
        self.last_round: datetime | None = None

    def record(self, findings: list[Finding]) -> list[Change]:
        """Take a round of findings; return the components whose status changed."""
        now = utc_now()
        changes = []
        for f in findings:
            old = self.components.get(f.component)
            if old is None or old.status != f.status:
                changes.append(
                    Change(f.component, old.status if old else None, f.status, f.reason, now)
                )
                self.components[f.component] = ComponentState(
                    f.status, f.reason, now, now, f.details
                )
            else:
                old.reason, old.checked_at, old.details = f.reason, now, f.details
        self.last_round = now
        return changes

    def overall(self) -> Status:
        """The worst status of any component (healthy when nothing was checked yet)."""
        statuses = [c.status for c in self.components.values()]
        return max(statuses, key=SEVERITY.__getitem__, default="healthy")

    def as_json(self) -> dict[str, Any]:
        """The `/health` body."""
        return {
            "status": self.overall(),
            "checked_at": self.last_round.isoformat() if self.last_round else None,
            "components": {
                name: {
                    "status": c.status,
                    "reason": c.reason,
                    "since": c.since.isoformat(),
                    "checked_at": c.checked_at.isoformat(),
                    **c.details,
                }
                for name, c in sorted(self.components.items())
            },
        }
