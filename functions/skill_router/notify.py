"""Supervisor emails: SES (default), Genesys agentless email, or none."""

from __future__ import annotations

from typing import Any, Protocol

from skill_router import aws


class Notifier(Protocol):
    enabled: bool
    one_recipient_per_send: bool

    def send(self, recipients: list[str], subject: str, text: str) -> None: ...


# SES SendEmail takes at most 50 recipients (To, CC and BCC together) per message:
# https://docs.aws.amazon.com/ses/latest/APIReference/API_SendEmail.html
SES_MAX_RECIPIENTS = 50


class SesNotifier:
    enabled = True
    one_recipient_per_send = False

    def __init__(self, sender: str, client: Any = None) -> None:
        self.sender = sender
        self.client = client or aws.client("ses")

    def send(self, recipients: list[str], subject: str, text: str) -> None:
        # One send for all recipients: it succeeds or fails as a whole, so a retry repeats nobody.
        self.client.send_email(
            Source=self.sender,
            Destination={"ToAddresses": recipients},
            Message={
                "Subject": {"Data": subject, "Charset": "UTF-8"},
                "Body": {"Text": {"Data": text, "Charset": "UTF-8"}},
            },
        )


class GenesysEmailNotifier:
    """Agentless email through Genesys; needs a configured sender domain in the org."""

    enabled = True
    # The agentless API takes one recipient per call, so a send to three is three sends that can
    # fail apart: the caller claims and marks each recipient on its own.
    one_recipient_per_send = True

    def __init__(self, sender: str, genesys: Any) -> None:
        self.sender = sender
        self.genesys = genesys

    def send(self, recipients: list[str], subject: str, text: str) -> None:
        for recipient in recipients:  # the agentless API takes one recipient per send
            self.genesys.send_agentless_email(self.sender, recipient, subject, text)


class NoNotifier:
    enabled = False
    one_recipient_per_send = False

    def send(self, recipients: list[str], subject: str, text: str) -> None:
        return None
