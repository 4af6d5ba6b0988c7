"""The seam every delivery channel plugs into: prepare a message for a recipient, send it.

The outbox (flows/delivery/outbox.py) owns exactly-once: it commits `sending` before calling
`send` and records the `Outcome` after it. A channel only has to say honestly what happened:

    sent     the receiver accepted it
    retry    it was not accepted, and trying again may help (SMTP 4xx, HTTP 5xx/429, refused)
    failed   it was not accepted, and trying again will not help (SMTP 5xx, HTTP 4xx)
    unknown  it may have arrived (connection lost after the message went out): never repeated
             automatically

`offered` is False when nothing about this message reached the receiver (connecting, TLS,
login, a refused address): the problem is the channel, not the message, so the row goes back to
pending and the outbox stops offering this channel's other recipients in this run.

Implementations: email (flows/delivery/email.py, SMTP through reports/mail.py) and chat or
webhook services through Apprise (flows/delivery/chat.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

Status = Literal["sent", "retry", "failed", "unknown"]
Message = TypeVar("Message")


@dataclass(frozen=True)
class Outcome:
    """What the receiving end did with one message, for one recipient."""

    status: Status
    code: int | None  # the receiver's reply code (SMTP or HTTP), if it gave one
    detail: str  # one line for people; never holds a secret
    offered: bool = True  # False: nothing of this message reached the receiver


class Channel(Protocol[Message]):
    """One way of delivering: email, or one configured chat/webhook channel."""

    @property
    def name(self) -> str:
        """The outbox's channel key: 'email', or the channel's name in sources.yaml."""
        ...

    @property
    def setup_errors(self) -> tuple[type[Exception], ...]:
        """Exceptions `send` raises before offering anything: the row stays pending."""
        ...

    def prepare(self, recipient: str, message_id: str) -> Message:
        """The message for one recipient (pure: no network)."""
        ...

    def send(self, recipient: str, message: Message) -> Outcome:
        """Offer it once and classify the reply; never retries by itself."""
        ...
