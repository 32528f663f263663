-- What the retention job (shared/retention.py) looks rows up by, so that pruning costs what it
-- deletes rather than a scan of the table. The inbox index is one more entry per handled
-- message; the outbox's covers published rows only.
CREATE INDEX inbox_by_handled_at ON inbox (handled_at);
CREATE INDEX outbox_published_by_time ON outbox (published_at) WHERE published_at IS NOT NULL;
CREATE INDEX redeliveries_by_last ON redeliveries (last_redelivered);
