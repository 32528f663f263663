"""Replies to requests (AMQP ``reply_to`` + ``correlation_id``), and the internal commands a
quote passes through on its way: inventory → checkout → payment → the caller."""

from stoppoc.contract.base import Id, Message, count, id_list, money
from stoppoc.contract.events import OrderLine, RequestedResource


class QuoteTerms(Message):
    customer_id: Id
    cluster_id: Id
    usage_cycle_months: int = count(gt=0)
    coupon_code: str | None = None
    resource_ids: list[Id] | None = id_list(default=None)  # added: the subset the customer will confirm


class QuotePrice(QuoteTerms):
    """``checkout.quote.price``: inventory asks checkout to price the cluster's POC resources."""

    resources: list[RequestedResource]


class PricedQuote(QuoteTerms):
    lines: list[OrderLine]
    subtotal: int = money(ge=0)
    discount: int = money(ge=0)
    tax: int = money(ge=0)
    total: int = money(ge=0)
    currency: str = "VND"


class QuoteFund(PricedQuote):
    """``payment.quote.fund``: checkout asks payment whether the wallet covers the quote."""


class StopPocQuoted(PricedQuote):
    """Reply type ``stoppoc.stop_poc.quoted.v1``."""

    wallet_balance: int = money(ge=0)
    wallet_covers: bool
    # Added: what orders waiting for funds will take first; wallet_covers accounts for it.
    wallet_reserved: int = money(default=0, ge=0)


class QuoteRejected(Message):
    """Reply type ``stoppoc.stop_poc.quote_rejected.v1``."""

    cluster_id: Id
    reason: str
    detail: str


COMMANDS: dict[str, type[Message]] = {
    "checkout.quote.price": QuotePrice,
    "payment.quote.fund": QuoteFund,
}
REPLIES: dict[str, type[Message]] = {
    "stop_poc.quoted": StopPocQuoted,
    "stop_poc.quote_rejected": QuoteRejected,
}
