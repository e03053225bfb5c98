"""Sending alerts: render an outbox row into a message and deliver it on every channel.

::

    outbox.deliver_due(store, settings, now=...)      the daemon calls this every send_every
      ├── render.render_alert(kind, payload, ...)     subject + text + HTML (Jinja2 templates)
      └── Channel.send(message)                       one per configured channel:
            ├── email.EmailChannel                    [notify.smtp], smtplib in a thread
            └── apprise.AppriseChannel                each [notify] apprise URL (optional extra)

Modules: :mod:`~monitor.notify.base` (Message, Channel, registry, error translation),
:mod:`~monitor.notify.render`, :mod:`~monitor.notify.email`, :mod:`~monitor.notify.apprise`,
:mod:`~monitor.notify.outbox`.
"""

from monitor.notify.base import CHANNELS, Channel, Message, configured_channels
from monitor.notify.email import check_smtp
from monitor.notify.outbox import DeliveryReport, deliver_due, list_alerts
from monitor.notify.render import render_alert

__all__ = [
    "CHANNELS",
    "Channel",
    "DeliveryReport",
    "Message",
    "check_smtp",
    "configured_channels",
    "deliver_due",
    "list_alerts",
    "render_alert",
]
