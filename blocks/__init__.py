"""Everything Baton shows people: Block Kit for Slack, and the texts customers read."""
