"""Baton's composition root: settings, the HTTP app, the platform relay and the CLI."""
