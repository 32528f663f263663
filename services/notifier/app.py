"""``faststream run stoppoc.services.notifier.app:app``: notifier alone, configured from the environment."""

from stoppoc.services.notifier.service import definition

app = definition.build()
