"""E-mail over SMTP (aiosmtplib): the rendered notification as a text part and an HTML part.

Every reply in the 5xx range is permanent, whatever it answers (the greeting, the login, the
sender, the recipient, the message): SMTP says the same command will fail again, so retrying
would only repeat the refusal. A 4xx reply, a connection, TLS or timeout error is temporary. Once
a refused login or sender is fixed, `stoppoc notifications retry ID` sends what failed.
"""

import email.utils
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import aiosmtplib

from stoppoc.services.notifier.outcome import Outcome
from stoppoc.services.notifier.rendering import Rendered
from stoppoc.shared.settings import Settings


def build_message(*, sender: str, recipient: str, rendered: Rendered, notification_id: int) -> Message:
    """The same message on every attempt: its Message-ID names the notification.

    Built with the classic MIME classes: Python 3.11's default e-mail policy drops the space
    between two encoded words when it folds a long non-ASCII subject (``được thực`` arrives as
    ``đượcthực``); ``Header`` keeps each space inside its encoded word."""
    name, address = email.utils.parseaddr(sender)
    domain = address.rpartition("@")[2] or "localhost"
    message = MIMEMultipart("alternative")
    message["From"] = email.utils.formataddr((name, address), charset="utf-8")
    message["To"] = recipient
    message["Subject"] = Header(rendered.subject, "utf-8")  # type: ignore[assignment]  # compat32 takes a Header
    message["Date"] = email.utils.formatdate(usegmt=True)
    message["Message-ID"] = f"<notification-{notification_id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    message.attach(MIMEText(rendered.text, "plain", "utf-8"))
    message.attach(MIMEText(rendered.html, "html", "utf-8"))
    return message


def _permanent(code: int) -> bool:
    return 500 <= code < 600


async def send(message: Message, settings: Settings) -> Outcome:
    assert settings.smtp_host is not None  # deliveries by e-mail are made only while it is on
    try:
        _, reply = await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=settings.smtp_password,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as refused:
        codes = [r.code for r in refused.recipients]
        answer = "; ".join(f"{r.code} {r.message}" for r in refused.recipients)
        return Outcome.failed(answer) if codes and all(map(_permanent, codes)) else Outcome.retry(answer)
    except aiosmtplib.SMTPResponseException as error:
        answer = f"{error.code} {error.message} ({type(error).__name__})"
        return Outcome.failed(answer) if _permanent(error.code) else Outcome.retry(answer)
    except (aiosmtplib.SMTPException, OSError) as error:
        return Outcome.retry(f"{type(error).__name__}: {error}")
    return Outcome.sent(f"250 {reply}".strip())
