"""Fault injection: the services as processes, a real broker and database, and the faults
production brings (kill -9, closed broker connections, terminated database connections)."""
