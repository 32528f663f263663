"""``faststream run stoppoc.services.payment.app:app``: payment alone, configured from the environment."""

from stoppoc.services.payment.service import definition

app = definition.build()
