"""Payment: settles orders from the customer's credit wallet, lets an order the wallet cannot
cover wait for a top-up, takes wallet credits and refunds, and tells a quote what the wallet holds."""

from stoppoc.contract.commands import WalletCredit
from stoppoc.contract.events import OrderCreated, WalletCredited, WalletCreditRejected
from stoppoc.contract.replies import QuoteFund, StopPocQuoted
from stoppoc.services.payment import domain, settlement
from stoppoc.services.payment.settlement import INSUFFICIENT_FUNDS, Payment
from stoppoc.shared.handlers import HandlerRegistry, Reply
from stoppoc.shared.ids import derived_id
from stoppoc.shared.unit_of_work import UnitOfWork

registry = HandlerRegistry()


def payment_id_for(order_id: str) -> str:
    return derived_id("payment", order_id)


@registry.on("payment.wallet.credit")
async def credit_wallet(cmd: WalletCredit, uow: UnitOfWork) -> None:
    if refusal := domain.credit_refusal(cmd.reference, cmd.amount, uow.settings.max_credit):
        await uow.emit(WalletCreditRejected(**cmd.model_dump(), reason=domain.OVER_CEILING, detail=refusal))
        return
    balance = await uow.q.lock_wallet(customer_id=cmd.customer_id)
    if await uow.q.ledger_entry_exists(reference=cmd.reference):
        return  # a retried credit with the same reference credits once
    now = await uow.q.transaction_time()
    # Waits that ended before this credit came are decided on the balance they had.
    balance = await settlement.decide_waits(uow, cmd.customer_id, balance, now)
    balance_after = domain.credit(balance, cmd.amount)
    refunded = domain.refunded_payment_id(cmd.reference)
    order_id = await uow.q.order_of_payment(payment_id=refunded) if refunded else None
    await uow.q.set_balance(customer_id=cmd.customer_id, balance=balance_after)
    await uow.q.append_ledger(
        customer_id=cmd.customer_id,
        kind=domain.credit_kind(cmd.reference),
        amount=cmd.amount,
        reference=cmd.reference,
        order_id=order_id,
        balance_after=balance_after,
    )
    await uow.emit(
        WalletCredited(
            customer_id=cmd.customer_id, amount=cmd.amount, reference=cmd.reference, balance_after=balance_after
        )
    )
    await settlement.decide_waits(uow, cmd.customer_id, balance_after, now)


@registry.on("order.created")
async def pay_order(order: OrderCreated, uow: UnitOfWork) -> None:
    balance = await uow.q.lock_wallet(customer_id=order.customer_id)
    if await uow.q.payment_status(order_id=order.order_id):
        return  # the order was settled, failed or is waiting for funds already
    payment = Payment.of_order(order, payment_id_for(order.order_id))
    now = await uow.q.transaction_time()
    outcome = domain.settle(balance, order.total)
    if outcome.settled:
        await settlement.record(uow, payment, "settled", outcome.balance_after)
        await settlement.settle(uow, payment, outcome.balance_after, now)
    elif wait_until := domain.wait_deadline(now, uow.settings.funds_wait_seconds):
        await settlement.record(uow, payment, "awaiting_funds", balance, wait_until=wait_until)
        await settlement.announce_wait(uow, payment, outcome, wait_until)
    else:
        await settlement.record(uow, payment, "failed", balance, reason=INSUFFICIENT_FUNDS)
        await settlement.announce_failure(uow, payment, outcome)


@registry.query("payment.quote.fund")
async def fund_quote(quote: QuoteFund, uow: UnitOfWork) -> Reply:
    """The last hop of a quote: add what the wallet holds. Reads only; a quote creates no wallet."""
    balance = await uow.q.wallet_balance(customer_id=quote.customer_id) or 0
    return Reply(StopPocQuoted(**dict(quote), wallet_balance=balance, wallet_covers=balance >= quote.total))
