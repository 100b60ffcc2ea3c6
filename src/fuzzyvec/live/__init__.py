"""Stage 8, live: the HTTP prediction service (FastAPI), its client (httpx) and paper replay
(SPEC section 14).

May import: every stage before it and the shared helpers.
"""
