"""The web dashboard: starlette on uvicorn, with server-sent events (``callsheet serve``)."""
