"""Payment: settles orders from the customer's credit wallet, lets an order the wallet cannot
cover wait for a top-up, takes wallet credits and refunds, and tells a quote what the wallet holds."""

from stoppoc.contract.base import Rejection
from stoppoc.contract.commands import WalletCredit
from stoppoc.contract.events import OrderCreated, WalletCredited, WalletCreditRejected
from stoppoc.contract.replies import QuoteFund, StopPocQuoted
from stoppoc.services.payment import domain, ordering, settlement
from stoppoc.services.payment.queries import LedgerReference, LockedWallet, RefundedPayment
from stoppoc.shared.handlers import HandlerRegistry, Reply
from stoppoc.shared.ids import derived_id
from stoppoc.shared.unit_of_work import UnitOfWork

registry = HandlerRegistry()
REFERENCE_CONFLICT = "reference_conflict"


@registry.on("payment.wallet.credit")
async def credit_wallet(cmd: WalletCredit, uow: UnitOfWork) -> None:
    if refusal := domain.credit_refusal(cmd.reference, cmd.amount, uow.settings.max_credit):
        await uow.emit(WalletCreditRejected(**cmd.model_dump(), reason=domain.OVER_CEILING, detail=refusal))
        return
    await uow.q.lock_credit_reference(reference=cmd.reference)
    used: LedgerReference | None = await uow.q.ledger_entry(reference=cmd.reference)
    if used is not None:
        if (used.customer_id, used.amount) != (cmd.customer_id, cmd.amount):
            await _refuse_credit(cmd, _reference_conflict(cmd, used), uow)
        return  # a retried credit with the same reference credits once
    refunded = await _refunded_payment(cmd, uow) if domain.credit_kind(cmd.reference) == "refund" else None
    if isinstance(refunded, Rejection):
        await _refuse_credit(cmd, refunded, uow)
        return
    wallet: LockedWallet = await uow.q.lock_wallet(customer_id=cmd.customer_id)
    balance, now = wallet.balance, wallet.now
    # Waits that ended before this credit came are decided on the balance they had.
    balance = await settlement.decide_waits(uow, cmd.customer_id, balance, now)
    balance_after = domain.credit(balance, cmd.amount)
    await uow.q.post_to_wallet(
        customer_id=cmd.customer_id,
        kind=domain.credit_kind(cmd.reference),
        amount=cmd.amount,
        reference=cmd.reference,
        order_id=refunded.order_id if refunded else None,
        balance_after=balance_after,
    )
    await uow.emit(
        WalletCredited(
            customer_id=cmd.customer_id, amount=cmd.amount, reference=cmd.reference, balance_after=balance_after
        )
    )
    await settlement.decide_waits(uow, cmd.customer_id, balance_after, now)


async def _refunded_payment(cmd: WalletCredit, uow: UnitOfWork) -> RefundedPayment | Rejection:
    """The payment a refund gives back from, or why the refund is refused."""
    paid: RefundedPayment | None = None
    if target := domain.refund_target(cmd.reference):
        payment_id, resource_id = target
        await uow.q.lock_refunds_of_payment(payment_id=payment_id)
        paid = await uow.q.refunded_payment(payment_id=payment_id, resource_id=resource_id)
    if refusal := domain.refund_refusal(cmd.reference, cmd.customer_id, cmd.amount, paid):
        return refusal
    assert paid is not None  # a refund naming no payment is refused
    return paid


def _reference_conflict(cmd: WalletCredit, used: LedgerReference) -> Rejection:
    if used.customer_id != cmd.customer_id:
        clash = "another customer's ledger entry"
    elif used.amount < 0:
        clash = "a payment"
    else:
        clash = f"a credit of {used.amount} VND"
    detail = (
        f"reference {cmd.reference!r} was used already for {clash}; this credit of {cmd.amount} VND was not applied"
    )
    return Rejection(REFERENCE_CONFLICT, detail)


async def _refuse_credit(cmd: WalletCredit, refusal: Rejection, uow: UnitOfWork) -> None:
    """Refuse the credit, loudly, once per distinct credit: nothing is credited."""
    await uow.emit(
        WalletCreditRejected(**cmd.model_dump(), reason=refusal.reason, detail=refusal.detail),
        message_id=derived_id("credit_rejected", cmd.reference, cmd.customer_id, cmd.amount),
    )


@registry.on("order.created")
async def pay_order(order: OrderCreated, uow: UnitOfWork) -> None:
    wallet: LockedWallet = await uow.q.lock_wallet(customer_id=order.customer_id)
    if await uow.q.payment_status(order_id=order.order_id):
        return  # the order was settled, failed or is waiting for funds already
    if not await ordering.its_turn(uow, order):
        await ordering.hold(uow, order)  # decided right after its predecessor
        return
    # Waits that are over are decided first, so that they hold up nothing behind them.
    balance = await settlement.decide_waits(uow, order.customer_id, wallet.balance, wallet.now)
    balance = await ordering.decide(uow, order, balance, wallet.now)
    await ordering.decide_held_behind(uow, order.customer_id, balance, wallet.now)


@registry.query("payment.quote.fund")
async def fund_quote(quote: QuoteFund, uow: UnitOfWork) -> Reply:
    """The last hop of a quote: add what the wallet holds and what orders waiting for funds will
    take from it first. Reads only; a quote creates no wallet."""
    balance = await uow.q.wallet_balance(customer_id=quote.customer_id) or 0
    reserved = await uow.q.reserved_for_waits(customer_id=quote.customer_id)
    return Reply(
        StopPocQuoted(
            **dict(quote),
            wallet_balance=balance,
            wallet_reserved=reserved,
            wallet_covers=domain.settle_at_once(balance, reserved, quote.total).settled,
        )
    )
