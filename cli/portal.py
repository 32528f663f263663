"""``stoppoc quote`` and ``stoppoc request-stop``: what the portal's Stop POC button does, from a
terminal, through the portal's client (``stoppoc.client``)."""

import sys

import click

from stoppoc.cli.database import NEGATIVE, OK, fail
from stoppoc.cli.output import echo_json, json_option, show
from stoppoc.cli.sending import command, with_client
from stoppoc.client import Outcome, QuoteRefused, StopPocClient, new_request_id
from stoppoc.contract.commands import StopPocQuote, StopPocRequest
from stoppoc.contract.replies import StopPocQuoted

LINE_COLUMNS = ["resource_id", "kind", "amount", "cycle_discount", "coupon_discount", "discount", "tax", "total"]
# What the one-line summary of a final event shows, where the event has it.
OUTCOME_FIELDS = ("rounds", "reason", "detail", "converted_resource_ids", "poc_remaining_resource_ids", "failed_round")

customer_option = click.option("--customer", "customer_id", required=True, help="The customer who owns the cluster.")
cluster_option = click.option("--cluster", "cluster_id", required=True, help="The cluster to stop POC for.")
cycle_option = click.option(
    "--cycle", "usage_cycle_months", type=int, required=True, help="Usage cycle in months (one of those offered)."
)
coupon_option = click.option("--coupon", "coupon_code", help="A coupon code.")
resource_option = click.option(
    "--resource",
    "resource_ids",
    multiple=True,
    help="Only this resource (repeatable): the list the user confirmed. Default: every POC server and volume.",
)


@click.command()
@customer_option
@cluster_option
@cycle_option
@coupon_option
@resource_option
@click.option("--timeout", default=30.0, show_default=True, help="Seconds to wait for the answer (exit 4 past it).")
@json_option
def quote(
    customer_id: str,
    cluster_id: str,
    usage_cycle_months: int,
    coupon_code: str | None,
    resource_ids: tuple[str, ...],
    timeout: float,
    as_json: bool,
) -> None:
    """The price of stopping POC, line by line, and whether the wallet covers it. Changes nothing.

    Exit 0 with the quote, 1 when it cannot be priced (the reason is printed).
    """
    request = command(
        StopPocQuote,
        customer_id=customer_id,
        cluster_id=cluster_id,
        usage_cycle_months=usage_cycle_months,
        coupon_code=coupon_code,
        resource_ids=list(resource_ids) or None,
    )

    async def ask(client: StopPocClient) -> StopPocQuoted | QuoteRefused:
        try:
            return await client.quote(request, timeout=timeout)
        except QuoteRefused as refused:
            return refused

    answer = with_client(ask)
    if isinstance(answer, QuoteRefused):
        if as_json:
            echo_json({"reason": answer.reason, "detail": answer.detail})
        fail(f"cannot be priced: {answer}")
    if as_json:
        echo_json(answer.model_dump(mode="json"))
        return
    show(answer.lines, LINE_COLUMNS, as_json=False, title=f"{cluster_id}: {usage_cycle_months} months (VND)")
    click.echo(
        f"subtotal {answer.subtotal:,}  discount {answer.discount:,}  total {answer.total:,} {answer.currency}"
        f" (VAT {answer.tax:,})"
    )
    covers = "covers it" if answer.wallet_covers else "does not cover it"
    click.echo(f"wallet {answer.wallet_balance:,}, reserved by waiting orders {answer.wallet_reserved:,}: {covers}")


@click.command("request-stop")
@customer_option
@cluster_option
@cycle_option
@click.option("--auto-renew/--no-auto-renew", default=False, show_default=True, help="Renew at the cycle's end.")
@coupon_option
@resource_option
@click.option("--expected-total", type=click.IntRange(min=0), help="The total the user was quoted (VND).")
@click.option("--request-id", help="The request's id (default: a new one). The same id again is the same request.")
@click.option(
    "--wait",
    "wait_seconds",
    type=click.FloatRange(min=0, min_open=True),
    help="Await the final event this long: exit 0 converted, 1 failed or rejected, 4 no answer in time.",
)
@json_option
def request_stop(
    customer_id: str,
    cluster_id: str,
    usage_cycle_months: int,
    auto_renew: bool,
    coupon_code: str | None,
    resource_ids: tuple[str, ...],
    expected_total: int | None,
    request_id: str | None,
    wait_seconds: float | None,
    as_json: bool,
) -> None:
    """Press Stop POC: the cluster's POC servers and volumes (or those given) are priced, paid from
    the wallet and made real. Prints the request id; with --wait, the final event."""
    request = command(
        StopPocRequest,
        request_id=request_id or new_request_id(),
        customer_id=customer_id,
        cluster_id=cluster_id,
        usage_cycle_months=usage_cycle_months,
        auto_renew=auto_renew,
        coupon_code=coupon_code,
        resource_ids=list(resource_ids) or None,
        expected_total=expected_total,
    )
    if wait_seconds is None:
        sent = with_client(lambda client: client.request_stop(request))
        if as_json:
            echo_json({"request_id": request.request_id, "message_id": sent.id})
        else:
            click.echo(f"requested {request.request_id}")
        return

    outcome = with_client(lambda client: client.stop_poc(request, timeout=wait_seconds))
    print_outcome(outcome, as_json=as_json)
    sys.exit(OK if outcome.succeeded else NEGATIVE)


def print_outcome(outcome: Outcome, *, as_json: bool) -> None:
    """The final event: its CloudEvent as JSON, or one line with what it says."""
    if as_json:
        echo_json(outcome.envelope.model_dump(mode="json", exclude_none=True))
        return
    data = outcome.envelope.data
    said = ", ".join(f"{key}={data[key]}" for key in OUTCOME_FIELDS if data.get(key) not in (None, []))
    click.echo(f"{outcome.routing_key}: {data.get('request_id')}" + (f" ({said})" if said else ""))
