"""Payment: settles orders from the customer's credit wallet and takes wallet credits."""

import json
import uuid

from shared.contract.commands import WalletCredit
from shared.contract.events import (
    OrderCreated,
    PaymentFailed,
    PaymentSettled,
    SettledLine,
    WalletCredited,
)
from shared.envelope import utc_now
from shared.handlers import HandlerRegistry
from shared.unit_of_work import UnitOfWork

from services.payment import domain

registry = HandlerRegistry()
METHOD = "credit_wallet"
_IDS = uuid.UUID("5a1d7c4e-0000-4000-8000-0000000000a1")


def payment_id_for(order_id: str) -> str:
    return str(uuid.uuid5(_IDS, f"payment:{order_id}"))


@registry.on("payment.wallet.credit")
async def credit_wallet(cmd: WalletCredit, uow: UnitOfWork) -> None:
    balance = await uow.fetchval("lock_wallet", cmd.customer_id)
    if await uow.fetchval("ledger_entry_exists", cmd.reference):
        return  # a retried credit with the same reference credits once
    balance_after = domain.credit(balance, cmd.amount)
    await uow.execute("set_balance", cmd.customer_id, balance_after)
    await uow.execute("append_ledger", cmd.customer_id, "credit", cmd.amount, cmd.reference, None, balance_after)
    await uow.emit(
        WalletCredited(
            customer_id=cmd.customer_id, amount=cmd.amount, reference=cmd.reference, balance_after=balance_after
        )
    )


@registry.on("order.created")
async def pay_order(order: OrderCreated, uow: UnitOfWork) -> None:
    balance = await uow.fetchval("lock_wallet", order.customer_id)
    if await uow.fetchrow("payment_for_order", order.order_id):
        return  # the order was settled or failed already
    outcome = domain.settle(balance, order.total)
    payment_id = payment_id_for(order.order_id)
    resource_ids = [line.resource_id for line in order.lines]
    lines = [SettledLine(resource_id=line.resource_id, total=line.total) for line in order.lines]
    await uow.execute(
        "record_payment",
        payment_id,
        order.order_id,
        order.request_id,
        order.round,
        order.customer_id,
        order.cluster_id,
        order.total,
        "settled" if outcome.settled else "failed",
        None if outcome.settled else "insufficient_funds",
        outcome.balance_after,
        resource_ids,
        json.dumps([line.model_dump() for line in lines]),
    )
    if not outcome.settled:
        await uow.emit(
            PaymentFailed(
                order_id=order.order_id,
                request_id=order.request_id,
                round=order.round,
                customer_id=order.customer_id,
                cluster_id=order.cluster_id,
                reason="insufficient_funds",
                amount=order.total,
                balance=balance,
                shortfall=outcome.shortfall,
            )
        )
        return
    if order.total:
        await uow.execute("set_balance", order.customer_id, outcome.balance_after)
        await uow.execute(
            "append_ledger",
            order.customer_id,
            "debit",
            -order.total,
            f"order:{order.order_id}",
            order.order_id,
            outcome.balance_after,
        )
    await uow.emit(
        PaymentSettled(
            payment_id=payment_id,
            order_id=order.order_id,
            request_id=order.request_id,
            round=order.round,
            customer_id=order.customer_id,
            cluster_id=order.cluster_id,
            amount=order.total,
            currency=order.currency,
            method=METHOD,
            balance_after=outcome.balance_after,
            resource_ids=resource_ids,
            settled_at=utc_now(),
            lines=lines,
        )
    )
