"""`baton demo`: the whole lifecycle on one machine, with stand-ins for Slack and for a bot
platform (also used by the tests), a Slack request signer and Block Kit previews. Nothing in
the product imports it."""
