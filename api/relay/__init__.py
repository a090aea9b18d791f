"""Delivery to the bot platforms: the relay worker that posts signed events to each
platform's callback, and the rules a callback URL must meet."""
