"""Wallet arithmetic: pure functions, no I/O."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Settlement:
    settled: bool
    balance_after: int
    shortfall: int


def settle(balance: int, amount: int) -> Settlement:
    """Pay ``amount`` from a wallet holding ``balance``: all of it, or nothing."""
    if balance < 0 or amount < 0:
        raise ValueError("balance and amount are never negative")
    if amount <= balance:
        return Settlement(settled=True, balance_after=balance - amount, shortfall=0)
    return Settlement(settled=False, balance_after=balance, shortfall=amount - balance)


def credit(balance: int, amount: int) -> int:
    if amount <= 0:
        raise ValueError("a credit is a positive amount")
    return balance + amount
