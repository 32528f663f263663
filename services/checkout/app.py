"""``faststream run stoppoc.services.checkout.app:app``: checkout alone, configured from the environment."""

from stoppoc.services.checkout.service import definition

app = definition.build()
