"""``faststream run stoppoc.services.inventory.app:app``: inventory alone, configured from the environment."""

from stoppoc.services.inventory.service import definition

app = definition.build()
