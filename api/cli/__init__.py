"""The `baton` command line: serving, the database, platforms, deliveries, the digest and
`baton doctor`. Nothing in the product imports it."""
