"""Mailers: SMTP (smtplib) or `.eml` files in a directory; the composition root picks one."""

from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Protocol

from tasktracker.endpoints import SmtpEndpoint


@dataclass(frozen=True, slots=True)
class Letter:
    to: str
    subject: str
    text: str
    html: str
    # Derived from the event id: a mail system can recognise a rare duplicate by it.
    message_id: str


class MailError(Exception):
    """The letter was not accepted (server down, refused, timed out)."""


class Mailer(Protocol):
    def send(self, letter: Letter) -> None:
        """Return once the letter was accepted; raise MailError otherwise."""


def build_message(letter: Letter, mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = letter.to
    message["Subject"] = letter.subject
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = letter.message_id
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message


class SmtpMailer:
    def __init__(self, url: str, mail_from: str, timeout: float = 10.0) -> None:
        self._endpoint = SmtpEndpoint.parse(url)
        self._mail_from = mail_from
        self._timeout = timeout

    def send(self, letter: Letter) -> None:
        """Return only once the server accepted the letter; raise MailError otherwise."""
        message = build_message(letter, self._mail_from)
        try:
            with self._open() as smtp:
                if self._endpoint.username:
                    smtp.login(self._endpoint.username, self._endpoint.password or "")
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP {type(exc).__name__}") from exc

    def _open(self) -> smtplib.SMTP:
        e = self._endpoint
        if e.tls:
            context = ssl.create_default_context()
            return smtplib.SMTP_SSL(e.host, e.port, timeout=self._timeout, context=context)
        return smtplib.SMTP(e.host, e.port, timeout=self._timeout)


class FileMailer:
    """Writes each letter as an `.eml` file (embedded mode: no mail server needed)."""

    def __init__(self, directory: Path, mail_from: str) -> None:
        self._directory = directory
        self._mail_from = mail_from

    def send(self, letter: Letter) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        name = letter.message_id.strip("<>").split("@", 1)[0]
        final = self._directory / f"{name}.eml"
        partial = final.with_suffix(".eml.part")
        try:
            partial.write_bytes(bytes(build_message(letter, self._mail_from)))
            os.replace(partial, final)  # readers never see half a letter
        except OSError as exc:
            raise MailError(f"cannot write {final.name}: {exc.strerror}") from exc
