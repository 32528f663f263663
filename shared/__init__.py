"""What the four stoppoc services share: the message contract, settings, logging,
broker topology, database helpers and the outbox/inbox machinery."""
