"""Baton's Slack side: the bolt app, its listeners and the Slack delivery worker."""
