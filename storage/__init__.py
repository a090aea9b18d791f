"""Baton's storage: tables, the state machine, the outbox and the queries over them."""
