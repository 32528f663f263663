"""Renders a notification as an e-mail: a subject, a text part and an HTML part, from the
templates beside this module (``templates/<language>/<kind>.j2``).

Each kind's template is written once per language and holds three blocks: ``subject``, ``body``
(what happened) and ``next`` (what the customer can do). It extends the language's layout for
the part being rendered, ``_layout.txt`` or ``_layout.html``, which adds what it cost (lines,
VAT, total) and the closing. The HTML part is rendered with autoescaping, so a value from an
event (a detail sentence, an id) is always text, never markup.
"""

import re
from dataclasses import dataclass
from typing import Any

import jinja2
from markupsafe import Markup
from pydantic import BaseModel

from stoppoc.contract.base import Language
from stoppoc.contract.events import WalletCredited
from stoppoc.services.notifier.domain import Payments, refunded
from stoppoc.services.notifier.formatting import Costs, Formats

_LOADER = jinja2.PackageLoader("stoppoc.services.notifier", "templates")
_OPTIONS: dict[str, Any] = {"loader": _LOADER, "undefined": jinja2.StrictUndefined, "trim_blocks": True}


def _paragraphs(text: str) -> list[str]:
    """A block's paragraphs (split at blank lines), each on one line: templates may wrap
    their sentences freely. Parts of an escaped HTML block stay marked safe."""
    parts = [" ".join(part.split()) for part in re.split(r"\n\s*\n", str(text))]
    return [Markup(part) if isinstance(text, Markup) else part for part in parts if part]


_TEXT = jinja2.Environment(autoescape=False, lstrip_blocks=True, **_OPTIONS)
_HTML = jinja2.Environment(autoescape=True, lstrip_blocks=True, **_OPTIONS)
for _environment in (_TEXT, _HTML):
    _environment.filters["paragraphs"] = _paragraphs


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def render(
    kind: str, event: BaseModel, payments: Payments, *, customer_id: str, language: Language, timezone: str
) -> Rendered:
    formats = Formats(language, timezone)
    costs = Costs.of(payments.settled)
    refund = refunded(event) if isinstance(event, WalletCredited) else None
    variables: dict[str, Any] = {
        "event": event,
        "customer_id": customer_id,
        "timezone": timezone,
        # A refund tells of one line of a payment, not what the payment cost.
        "costs": None if refund else costs,
        "failure": payments.failure(),
        "refunded_resource": refund[1] if refund else None,
        "refunded_line": costs.line(refund[1]) if costs and refund else None,
        "money": formats.money,
        "when": formats.when,
        "day": formats.day,
        "number": formats.number,
    }
    name = f"{language.value}/{kind}.j2"
    text_template, text_variables = _TEXT.get_template(name), _with_layout(variables, language, "txt")
    subject = "".join(text_template.blocks["subject"](text_template.new_context(text_variables)))
    text = text_template.render(text_variables)
    html = _HTML.get_template(name).render(_with_layout(variables, language, "html"), subject=subject)
    return Rendered(" ".join(subject.split()), text.strip() + "\n", html)


def _with_layout(variables: dict[str, Any], language: Language, part: str) -> dict[str, Any]:
    return {**variables, "layout": f"{language.value}/_layout.{part}"}
