"""Email as a delivery channel: the digest through SMTP (reports/mail.py does the talking)."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

from flows.config import SmtpSettings
from flows.delivery.channels import Outcome, Status
from reports import mail
from warehouse.records import Rendered

# Failures before the message is offered say nothing about it: it stays pending.
_SESSION_STAGES = frozenset({"connect", "tls", "auth"})


class Transport(Protocol):
    """How one message is offered to the server (reports.mail.send; tests wrap it)."""

    def __call__(
        self, smtp: SmtpSettings, message: EmailMessage, *, timeout: float
    ) -> mail.SendOutcome: ...


@dataclass(frozen=True)
class EmailChannel:
    """One rendered digest, mailed to each recipient separately (the outbox's channel 'email')."""

    smtp: SmtpSettings
    rendered: Rendered
    list_id: str
    unsubscribe: str | None
    timeout: float
    transport: Transport = mail.send
    name: str = "email"
    setup_errors: tuple[type[Exception], ...] = (mail.MailConfigError,)

    def prepare(self, recipient: str, message_id: str) -> EmailMessage:
        return mail.build_message(
            self.rendered,
            sender=self.smtp.sender,
            recipient=recipient,
            message_id=message_id,
            list_id=self.list_id,
            unsubscribe=self.unsubscribe,
        )

    def send(self, recipient: str, message: EmailMessage) -> Outcome:
        outcome = self.transport(self.smtp, message, timeout=self.timeout)
        offered = outcome.stage not in _SESSION_STAGES
        refusal = outcome.refused.get(recipient)
        if outcome.status == "sent" and refusal is not None:
            # One of several recipients of a transaction may be refused: this is its share.
            code, text = refusal
            status: Status = "retry" if 400 <= code < 500 else "failed"
            return Outcome(status, code, f"refused: {code} {text}", offered)
        return Outcome(outcome.status, outcome.code, outcome.detail, offered)
