"""The ``stoppoc`` command: runs the services and gives staff, operators and analysts their tools.

One module per command group; each reads a service's data through that service's own queries.
No service imports this package.
"""

from stoppoc.cli.main import main

__all__ = ["main"]
