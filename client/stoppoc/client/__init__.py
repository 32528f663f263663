"""A typed async client of stoppoc for portal backends.

```python
from stoppoc.client import StopPocClient, new_request_id
from stoppoc.contract.commands import StopPocQuote, StopPocRequest

async with StopPocClient("amqp://guest:guest@127.0.0.1:5672/") as client:
    quote = await client.quote(StopPocQuote(customer_id="c-1", cluster_id="k-1", usage_cycle_months=3))
    outcome = await client.stop_poc(
        StopPocRequest(request_id=new_request_id(), customer_id="c-1", cluster_id="k-1",
                       usage_cycle_months=3, auto_renew=True, expected_total=quote.total)
    )
    print(outcome.routing_key, outcome.succeeded)
```

It needs pydantic and aio-pika alone (the ``stoppoc-client`` distribution), and tzdata on Windows,
which has no time-zone database of its own. docs/portal.md.
"""

from stoppoc.client.errors import NotRouted, OutcomeTimeout, QuoteRefused
from stoppoc.client.outcomes import CONVERSION_FINAL, RENEWAL_FINAL, Outcome
from stoppoc.client.portal import StopPocClient, new_request_id

__all__ = [
    "CONVERSION_FINAL",
    "RENEWAL_FINAL",
    "NotRouted",
    "Outcome",
    "OutcomeTimeout",
    "QuoteRefused",
    "StopPocClient",
    "new_request_id",
]
