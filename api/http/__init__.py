"""The HTTP face of Baton: the FastAPI app, its routes, request dependencies, errors and
middleware."""
