"""SmtpMailer against a real SMTP server (aiosmtpd): kept connections, and a fresh one when the
server dropped the kept one, without losing or doubling a letter."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tasktracker.adapters.mailer import Letter, MailError, SmtpMailer
from tests.support.smtp import SmtpServer


def letter(n: int) -> Letter:
    return Letter(f"user{n}@example.com", f"letter {n}", "text", "<p>html</p>", f"<{n}@test>")


@pytest.fixture
def mailer(smtp: SmtpServer) -> Iterator[SmtpMailer]:
    mailer = SmtpMailer(smtp.url, "TaskTracker <no-reply@example.com>", timeout=5)
    yield mailer
    mailer.close()


def test_letters_from_one_thread_share_one_connection(smtp: SmtpServer, mailer: SmtpMailer):
    for n in range(5):
        mailer.send(letter(n))

    assert smtp.count == 5
    assert len(set(smtp.collector.peers)) == 1


def test_concurrent_senders_each_keep_a_connection(smtp: SmtpServer, mailer: SmtpMailer):
    barrier = threading.Barrier(3)

    def send(first: int) -> None:
        barrier.wait()
        for n in range(first, first + 10):
            mailer.send(letter(n))

    threads = [threading.Thread(target=send, args=(first,)) for first in (0, 10, 20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(m["Subject"] for m in smtp.collector.messages) == sorted(
        f"letter {n}" for n in range(30)
    )
    assert len(set(smtp.collector.peers)) <= 3


def test_a_connection_the_server_dropped_is_replaced_and_the_letter_sent_once(
    smtp: SmtpServer, mailer: SmtpMailer
):
    mailer.send(letter(1))
    smtp.stop()  # drops the kept connection
    smtp.start()

    mailer.send(letter(2))

    assert [m["Subject"] for m in smtp.collector.messages] == ["letter 1", "letter 2"]
    assert len(set(smtp.collector.peers)) == 2
    mailer.send(letter(3))  # and the new connection is kept in turn
    assert smtp.collector.peers[2] == smtp.collector.peers[1]


def test_a_connection_idle_long_is_checked_before_use(smtp: SmtpServer):
    mailer = SmtpMailer(smtp.url, "no-reply@example.com", timeout=5, idle_check=0)
    try:
        mailer.send(letter(1))
        smtp.stop()
        smtp.start()
        mailer.send(letter(2))  # NOOP finds it gone: a fresh connection, no failed attempt
        mailer.send(letter(3))
    finally:
        mailer.close()
    assert smtp.count == 3
    assert smtp.collector.peers[1] == smtp.collector.peers[2] != smtp.collector.peers[0]


def test_no_server_is_a_mail_error_and_the_next_letter_goes_once_it_is_back(
    smtp: SmtpServer, mailer: SmtpMailer
):
    mailer.send(letter(1))
    smtp.stop()

    with pytest.raises(MailError):
        mailer.send(letter(2))

    smtp.start()
    mailer.send(letter(2))
    assert [m["Subject"] for m in smtp.collector.messages] == ["letter 1", "letter 2"]


def test_a_refused_letter_keeps_the_connection(smtp: SmtpServer, mailer: SmtpMailer):
    mailer.send(letter(1))
    smtp.collector.hold = True
    smtp.collector.release()  # the held DATA answers "451 try again later" at once

    with pytest.raises(MailError):
        mailer.send(letter(2))
    mailer.send(letter(3))

    assert [m["Subject"] for m in smtp.collector.messages] == ["letter 1", "letter 3"]
    assert len(set(smtp.collector.peers)) == 1
