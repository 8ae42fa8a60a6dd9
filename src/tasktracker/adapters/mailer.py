"""Mailers: SMTP (smtplib) or `.eml` files in a directory; the composition root picks one."""

from __future__ import annotations

import os
import smtplib
import ssl
import threading
import time
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

    def close(self) -> None:
        """Let go of what it holds open (connections)."""


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


class _Gone(Exception):
    """A kept connection the server had dropped."""


class SmtpMailer:
    """Letters over SMTP on kept connections: a letter costs its SMTP transaction (MAIL, RCPT,
    DATA) instead of a connection of its own (connect, EHLO, AUTH, QUIT besides). Each sending
    thread takes an idle connection or opens one, and gives it back afterwards. One idle for
    `idle_check` seconds is checked (NOOP) before use; a letter that finds its kept connection
    dropped by the server is sent once more on a fresh one. A refusal (a reply) is no reason
    to drop a connection: smtplib resets the transaction."""

    def __init__(
        self,
        url: str,
        mail_from: str,
        timeout: float = 10.0,
        *,
        max_idle: int = 8,
        idle_check: float = 10.0,
    ) -> None:
        self._endpoint = SmtpEndpoint.parse(url)
        self._mail_from = mail_from
        self._timeout = timeout
        self._max_idle = max_idle
        self._idle_check = idle_check
        self._lock = threading.Lock()
        self._idle: list[tuple[smtplib.SMTP, float]] = []  # with when it was last used

    def send(self, letter: Letter) -> None:
        """Return only once the server accepted the letter; raise MailError otherwise."""
        message = build_message(letter, self._mail_from)
        kept = self._take()
        if kept is not None:
            try:
                self._send(kept, message)
                return
            except _Gone:
                pass  # dropped while idle: once more, on a fresh connection
        try:
            self._send(self._connect(), message)
        except _Gone as exc:
            raise MailError(f"SMTP {exc}") from exc

    def _send(self, smtp: smtplib.SMTP, message: EmailMessage) -> None:
        try:
            smtp.send_message(message)
        except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
            if smtp.sock is not None:  # a refusal; smtplib closes after "421 closing"
                self._give_back(smtp)
            raise MailError(f"SMTP {type(exc).__name__}") from exc
        except OSError as exc:  # the connection failed (smtplib's errors are OSErrors too)
            smtp.close()
            raise _Gone(type(exc).__name__) from exc
        self._give_back(smtp)

    def _take(self) -> smtplib.SMTP | None:
        """An idle connection, checked if it idled long; None when there is none."""
        while True:
            with self._lock:
                if not self._idle:
                    return None
                smtp, used = self._idle.pop()
            if time.monotonic() - used < self._idle_check:
                return smtp
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except OSError:
                pass
            smtp.close()

    def _give_back(self, smtp: smtplib.SMTP) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append((smtp, time.monotonic()))
                return
        _quit(smtp)

    def _connect(self) -> smtplib.SMTP:
        e = self._endpoint
        try:
            if e.tls:
                context = ssl.create_default_context()
                smtp = smtplib.SMTP_SSL(e.host, e.port, timeout=self._timeout, context=context)
            else:
                smtp = smtplib.SMTP(e.host, e.port, timeout=self._timeout)
        except OSError as exc:
            raise MailError(f"SMTP {type(exc).__name__}") from exc
        try:
            if e.username:
                smtp.login(e.username, e.password or "")
        except OSError as exc:
            smtp.close()
            raise MailError(f"SMTP {type(exc).__name__}") from exc
        return smtp

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for smtp, _ in idle:
            _quit(smtp)


def _quit(smtp: smtplib.SMTP) -> None:
    """QUIT if the server is still there, and close the socket either way."""
    try:
        smtp.quit()
    except OSError:
        smtp.close()


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

    def close(self) -> None:
        pass
