"""Money back for paid lines that bought nothing: a resource deleted or made real by the platform
while its round or renewal was in flight, or a payment for a round or renewal decided already."""

from stoppoc.contract.commands import WalletCredit
from stoppoc.contract.events import PaymentSettled
from stoppoc.shared.unit_of_work import UnitOfWork


def refund_reference(payment_id: str, resource_id: str) -> str:
    return f"refund:{payment_id}:{resource_id}"


async def refund(uow: UnitOfWork, paid: PaymentSettled, resource_ids: set[str]) -> None:
    """A wallet credit per line, whose reference makes a second refund of it credit nothing."""
    for line in paid.lines:
        if line.resource_id in resource_ids and line.total > 0:
            await uow.emit(
                WalletCredit(
                    customer_id=paid.customer_id,
                    amount=line.total,
                    reference=refund_reference(paid.payment_id, line.resource_id),
                )
            )
