"""The four stoppoc services: inventory, checkout, payment and notifier. Each is a package of
its own and never imports another; ``stoppoc.services.registry`` is the one place that knows
all four."""
