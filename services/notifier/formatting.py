"""How amounts, times and costs read in the customer's language and time zone. Pure."""

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from stoppoc.contract.base import Language
from stoppoc.contract.events import PaymentSettled, SettledLine

ENGLISH_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


@dataclass(frozen=True)
class Formats:
    """``8.700.000 ₫`` and ``16:05 ngày 01/03/2025 (UTC+07:00)`` in Vietnamese;
    ``8,700,000 VND`` and ``1 March 2025, 16:05 (UTC+07:00)`` in English."""

    language: Language
    timezone: str

    def money(self, amount: int) -> str:
        digits = f"{abs(amount):,}"
        sign = "-" if amount < 0 else ""
        if self.language is Language.VI:
            return f"{sign}{digits.replace(',', '.')} ₫"
        return f"{sign}{digits} VND"

    def local(self, moment: datetime) -> datetime:
        # The contract's times are UTC; one without a zone is read as UTC too.
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(ZoneInfo(self.timezone))

    def day(self, moment: datetime) -> str:
        local = self.local(moment)
        if self.language is Language.VI:
            return f"{local:%d/%m/%Y}"
        return f"{local.day} {ENGLISH_MONTHS[local.month - 1]} {local.year}"

    def when(self, moment: datetime) -> str:
        local = self.local(moment)
        offset = local.strftime("%z")
        zone = f"UTC{offset[:3]}:{offset[3:]}"
        if self.language is Language.VI:
            return f"{local:%H:%M} ngày {self.day(local)} ({zone})"
        return f"{self.day(local)}, {local:%H:%M} ({zone})"

    def number(self, value: float) -> str:
        """A count of days: whole numbers without a decimal part (``7``, ``0.5``; ``0,5`` in Vietnamese)."""
        text = f"{value:g}"
        return text.replace(".", ",") if self.language is Language.VI else text


@dataclass(frozen=True)
class CostLine:
    resource_id: str
    kind: str | None
    amount: int | None  # the listed price for the cycle, VAT included
    discount: int | None
    tax: int | None  # the VAT included in total
    total: int


@dataclass(frozen=True)
class CostRound:
    round: int
    payment_id: str
    settled_at: datetime
    lines: tuple[CostLine, ...]
    amount: int
    tax: int | None


@dataclass(frozen=True)
class Costs:
    """What a conversion or renewal was charged: its payments, their lines, VAT and total."""

    rounds: tuple[CostRound, ...]
    total: int
    tax: int | None
    vat_percent: int | None
    balance_after: int
    usage_cycle_months: int | None
    auto_renew: bool | None

    @classmethod
    def of(cls, settled: tuple[PaymentSettled, ...]) -> "Costs | None":
        if not settled:
            return None
        rounds = tuple(
            CostRound(p.round, p.payment_id, p.settled_at, tuple(_line(line) for line in p.lines), p.amount, _tax(p))
            for p in settled
        )
        taxes = [r.tax for r in rounds]
        last = settled[-1]
        return cls(
            rounds=rounds,
            total=sum(r.amount for r in rounds),
            tax=None if None in taxes else sum(t for t in taxes if t is not None),
            vat_percent=last.vat_percent,
            balance_after=last.balance_after,
            usage_cycle_months=last.usage_cycle_months,
            auto_renew=last.auto_renew,
        )

    def line(self, resource_id: str) -> CostLine | None:
        found = [line for r in self.rounds for line in r.lines if line.resource_id == resource_id]
        return found[-1] if found else None


def _line(line: SettledLine) -> CostLine:
    parts = (line.cycle_discount, line.coupon_discount)
    discount = None if line.amount is None else sum(part or 0 for part in parts)
    return CostLine(line.resource_id, line.kind, line.amount, discount, line.tax, line.total)


def _tax(payment: PaymentSettled) -> int | None:
    if payment.tax is not None:
        return payment.tax
    taxes = [line.tax for line in payment.lines]
    if not taxes or None in taxes:
        return None
    return sum(t for t in taxes if t is not None)
