"""Run one service by name with the project's config: `python -m scripts.service orders`."""

from __future__ import annotations

import os
import sys

TARGETS = {
    "orders": "services.orders.service:OrdersService",
    "dispatch": "services.dispatch.service:DispatchService",
    "feedback": "services.feedback.service:FeedbackService",
    "accounts": "services.accounts.service:AccountsService",
    "reporting": "services.reporting.service:ReportingService",
    "notifications": "services.notifications.service:NotificationsService",
    "audit": "services.audit.service:AuditService",
    "gateway": "services.gateway.service:GatewayService",
}


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SERVICE", "")
    if name not in TARGETS:
        raise SystemExit(f"usage: python -m scripts.service {{{','.join(TARGETS)}}}")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    os.execvp(
        sys.executable,
        [sys.executable, "-m", "nameko", "run", "--config", os.path.join(root, "config.yml"), TARGETS[name]],
    )


if __name__ == "__main__":
    main()
