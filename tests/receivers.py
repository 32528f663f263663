"""The customers' side, for real, on 127.0.0.1: an SMTP server (aiosmtpd) that keeps what it is
sent, and an HTTP server that receives webhooks and answers with the statuses it is told to."""

import asyncio
import contextlib
import email
import email.policy
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class MailSink:
    """An SMTP server's handler: keeps each message, or answers with the replies queued for a stage
    first: ``replies["a@example.com"]`` to the message sent to that recipient,
    ``recipient_replies["a@example.com"]`` to the recipient itself, ``sender_replies`` to the next
    senders (e.g. ``["451 4.3.0 try later"]``). A login is accepted when ``accounts`` has it."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.replies: dict[str, list[str]] = {}
        self.recipient_replies: dict[str, list[str]] = {}
        self.sender_replies: list[str] = []
        self.accounts: dict[str, str] = {}
        self.logins: list[str] = []  # the user of each login accepted
        self._lock = threading.Lock()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            if self.sender_replies:
                return self.sender_replies.pop(0)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            queued = self.recipient_replies.get(address, [])
            if queued:
                return queued.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            queued = self.replies.get(envelope.rcpt_tos[0], [])
            if queued:
                return queued.pop(0)
            content = envelope.original_content or b""
            message = email.message_from_bytes(content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            self.messages.append(message)
        return "250 2.0.0 OK: queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        user, password = data.login.decode(), data.password.decode()
        if self.accounts.get(user) != password:
            return AuthResult(success=False, handled=False)
        self.logins.append(user)
        return AuthResult(success=True, auth_data=data)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[MailSink, int]]:
    sink = MailSink()
    port = free_port()
    # AUTH offered without TLS: the tests have no certificate (aiosmtplib logs in only when given a user).
    controller = Controller(
        sink, hostname="127.0.0.1", port=port, authenticator=sink.authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@contextlib.contextmanager
def smtp_server_with_starttls(certificate_authority: Any) -> Iterator[tuple[MailSink, int]]:
    """An SMTP server that requires STARTTLS (and TLS before a login), with a certificate for
    127.0.0.1 issued by ``certificate_authority`` (a ``trustme.CA``)."""
    sink = MailSink()
    port = free_port()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1").configure_cert(context)
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=port,
        authenticator=sink.authenticate,
        tls_context=context,
        require_starttls=True,
    )
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


@contextlib.asynccontextmanager
async def smtp_greeting(reply: str) -> AsyncIterator[int]:
    """An SMTP server that answers every connection with ``reply`` and hangs up; its port."""

    async def greet(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(f"{reply}\r\n".encode())
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(greet, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    plain, html = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and html is not None, "the e-mail has a text part and an HTML part"
    return plain.get_content(), html.get_content()  # type: ignore[attr-defined]


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """Answers each POST with the next status of ``statuses`` (200 once they are used up), after
    ``delay_seconds``."""

    port: int = 0
    statuses: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0
    received: list[Received] = field(default_factory=list)
    # Called with each request before it is answered (a test may kill the sender meanwhile).
    before_answer: Callable[[Received], Awaitable[None]] | None = None
    # Offer to keep each connection for more requests (answered on it until the sender hangs up).
    keep_alive: bool = False
    connections: int = 0  # accepted so far

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/stoppoc"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await self._answer_one(reader, writer) and self.keep_alive:
                pass
        except ConnectionError:
            pass  # the sender is gone (killed by the test): nothing to answer
        finally:
            writer.close()

    async def _answer_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Answer the connection's next request; False when the sender hung up instead."""
        request_line = (await reader.readline()).decode()
        if not request_line:
            return False
        headers: dict[str, str] = {}
        while (line := (await reader.readline()).decode().strip()) != "":
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        received = Received(request_line.split()[1], headers, body)
        self.received.append(received)
        if self.before_answer:
            await self.before_answer(received)
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        status = self.statuses.pop(0) if self.statuses else 200
        reply = b"ok" if status < 300 else b"not now"
        connection = "keep-alive" if self.keep_alive else "close"
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-length: {len(reply)}\r\nconnection: {connection}\r\n\r\n".encode() + reply
        )
        await writer.drain()
        return True

    @contextlib.asynccontextmanager
    async def running(self):  # type: ignore[no-untyped-def]
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        async with server:
            yield self
