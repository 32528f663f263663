"""A customer's orders are decided in the order checkout created them (``customer_sequence``),
whatever order they reach payment in: prefetch, a second instance and checkout's own concurrency
may deliver a newer order first. One that comes before its predecessor is held, and decided in
the transaction that decides the predecessor; one whose predecessor never comes is decided by
the sweep after ``STOPPOC_ORDER_GAP_SECONDS``. Orders without a sequence are decided as they come.

Each step runs in its caller's transaction, which holds the customer's wallet lock.
"""

from datetime import datetime

from stoppoc.contract.base import OrderKind
from stoppoc.contract.events import OrderCreated
from stoppoc.services.payment import domain, settlement
from stoppoc.services.payment.queries import WalletBalance
from stoppoc.services.payment.settlement import INSUFFICIENT_FUNDS, SWEEP_BATCH, Payment
from stoppoc.shared.ids import derived_id
from stoppoc.shared.logging import get_logger
from stoppoc.shared.unit_of_work import UnitOfWork

log = get_logger(service="payment")


def payment_id_for(order_id: str) -> str:
    return derived_id("payment", order_id)


async def its_turn(uow: UnitOfWork, order: OrderCreated) -> bool:
    """Whether the order's predecessor is decided (or it has none, or no sequence)."""
    if order.customer_sequence is None or order.customer_sequence == 1:
        return True
    recorded: int = await uow.q.recorded_sequence(customer_id=order.customer_id)
    return order.customer_sequence <= recorded + 1


async def hold(uow: UnitOfWork, order: OrderCreated) -> None:
    await uow.q.hold_order(
        order_id=order.order_id,
        customer_id=order.customer_id,
        customer_sequence=order.customer_sequence,
        order_data=order.model_dump(mode="json"),
    )


async def decide(uow: UnitOfWork, order: OrderCreated, balance: int, now: datetime) -> int:
    """Settle the order, let it wait for funds, or fail it; the balance after."""
    payment = Payment.of_order(order, payment_id_for(order.order_id))
    # Never settled while an older order waits: what waits is more than the balance (or a
    # credit would have settled the first of them), so the reserve leaves nothing for this one.
    reserved = await uow.q.reserved_for_waits(customer_id=order.customer_id)
    outcome = domain.settle_at_once(balance, reserved, order.total)
    wait_until = domain.wait_deadline(now, uow.settings.funds_wait_seconds)
    if outcome.settled:
        await settlement.record(uow, payment, "settled", outcome.balance_after)
        await settlement.settle(uow, payment, outcome.balance_after, now)
        balance = outcome.balance_after
    elif order.kind is OrderKind.CONVERSION and wait_until:
        # Not covered, or older orders wait for funds: it waits behind them.
        await settlement.record(uow, payment, "awaiting_funds", balance, wait_until=wait_until)
        await settlement.announce_wait(uow, payment, outcome, wait_until)
    else:
        # A renewal never waits: credit only, at once.
        await settlement.record(uow, payment, "failed", balance, reason=INSUFFICIENT_FUNDS)
        await settlement.announce_failure(uow, payment, outcome, reserved)
    if order.customer_sequence is not None:
        await uow.q.record_sequence(customer_id=order.customer_id, customer_sequence=order.customer_sequence)
    return balance


async def decide_held_behind(uow: UnitOfWork, customer_id: str, balance: int, now: datetime) -> int:
    """Decide the held orders whose predecessors are decided now, in sequence; the balance after."""
    while (held := await uow.q.take_next_held_order(customer_id=customer_id)) is not None:
        balance = await decide(uow, OrderCreated.model_validate(held), balance, now)
    return balance


async def decide_orders_past_gap(uow: UnitOfWork) -> bool:
    """The sweep: a customer's order held longer than the gap is decided without its predecessor
    (lost, or dead-lettered), and the orders held behind it follow. True: more wallets to see."""
    now = await uow.q.transaction_time()
    gap_seconds = uow.settings.order_gap_seconds
    wallets: list[WalletBalance] = await uow.q.claim_wallets_with_held_orders_past_gap(
        gap_seconds=gap_seconds, batch_size=SWEEP_BATCH
    )
    for wallet in wallets:
        balance = await settlement.decide_waits(uow, wallet.customer_id, wallet.balance, now)
        while (
            held := await uow.q.take_first_held_order_past_gap(customer_id=wallet.customer_id, gap_seconds=gap_seconds)
        ) is not None:
            order = OrderCreated.model_validate(held)
            recorded: int = await uow.q.recorded_sequence(customer_id=order.customer_id)
            log.warning(
                "order_decided_without_its_predecessor",
                order_id=order.order_id,
                customer_id=order.customer_id,
                customer_sequence=order.customer_sequence,
                missing_sequences=f"{recorded + 1}..{(order.customer_sequence or 1) - 1}",
                gap_seconds=gap_seconds,
            )
            balance = await decide(uow, order, balance, now)
            balance = await decide_held_behind(uow, order.customer_id, balance, now)
    return len(wallets) == SWEEP_BATCH
