"""The four stoppoc services and the ``stoppoc`` command."""
