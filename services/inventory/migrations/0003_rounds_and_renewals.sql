-- Rounds and consent: what the customer confirmed binds every round, and a conversion may end
-- `completed` (some of the cluster converted, its POC option still on).
ALTER TABLE conversions ADD COLUMN resource_ids text[];  -- NULL: the whole cluster
ALTER TABLE conversions ADD COLUMN expected_total bigint CHECK (expected_total >= 0);
ALTER TABLE conversions DROP CONSTRAINT conversions_status_check;
ALTER TABLE conversions ADD CONSTRAINT conversions_status_check
    CHECK (status IN ('in_progress', 'stopped', 'completed', 'failed', 'rejected'));

-- Renewals of real servers and volumes, and where each stands after its paid_until.
-- lifecycle_stage only moves forward (active, expired, suspended, deletion_due) until a renewal
-- brings paid_until back into the future, which makes it active again.
ALTER TABLE resources ADD COLUMN lifecycle_stage text NOT NULL DEFAULT 'active'
    CHECK (lifecycle_stage IN ('active', 'expired', 'suspended', 'deletion_due'));
ALTER TABLE resources ADD COLUMN lifecycle_changed_at timestamptz;
-- Set while a renewal holds the resource, so that no other renewal takes it.
ALTER TABLE resources ADD COLUMN renewing_id text;
-- The paid_until the last automatic renewal tried to extend, and when: a failed one is tried
-- again on a credit and once a day, never twice at the same paid_until by the sweep.
ALTER TABLE resources ADD COLUMN renewal_attempted_for timestamptz;
ALTER TABLE resources ADD COLUMN renewal_attempted_at timestamptz;
CREATE INDEX resources_by_paid_until ON resources (paid_until)
    WHERE billing = 'real' AND deleted_at IS NULL AND paid_until IS NOT NULL;

CREATE TABLE renewals (
    renewal_id          text PRIMARY KEY,
    customer_id         text NOT NULL,
    cluster_id          text NOT NULL,
    usage_cycle_months  integer NOT NULL CHECK (usage_cycle_months > 0),
    reason              text NOT NULL CHECK (reason IN ('auto_renew', 'manual')),
    resource_ids        text[] NOT NULL,
    status              text NOT NULL CHECK (status IN ('requested', 'renewed', 'failed', 'rejected')),
    failure_reason      text,
    detail              text,
    payment_id          text,
    amount              bigint CHECK (amount >= 0),
    created_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz
);
CREATE INDEX renewals_by_cluster ON renewals (cluster_id, created_at);

-- Reminders before a real resource's paid_until: one per offset and paid_until, so a renewed
-- resource is reminded again before its new date.
CREATE TABLE renewal_reminders (
    resource_id  text NOT NULL,
    paid_until   timestamptz NOT NULL,
    days_before  double precision NOT NULL,
    sent_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (resource_id, paid_until, days_before)
);
