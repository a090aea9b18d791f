"""The outbox: side effects as rows, and how workers claim, deliver and record them."""
