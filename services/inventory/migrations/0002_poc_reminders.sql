-- Reminders sent before a cluster's POC wallet expires: one per offset and expiry date, so a
-- changed expiry date is reminded again.
CREATE TABLE poc_reminders (
    cluster_id      text NOT NULL,
    poc_expires_at  timestamptz NOT NULL,
    days_before     double precision NOT NULL,
    sent_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cluster_id, poc_expires_at, days_before)
);
