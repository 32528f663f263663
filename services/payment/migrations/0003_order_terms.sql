-- What payment.settled repeats of its order (kind, cycle, coupon, totals, VAT rate), kept with the
-- payment so that a settlement decided later (a wait that a credit ends) announces it too.
-- NULL on payments recorded before: they announce what they have.
ALTER TABLE payments ADD COLUMN terms jsonb;
