"""Notifier's queries (``queries.sql``)."""

from stoppoc.shared import queries

QUERIES = queries.load(__package__)
