"""1. Receiving deliveries: the HTTP service GitHub sends webhooks to.

`server.create_app` builds the FastAPI app; `webhooks` verifies a delivery's signature and
turns it into a `Job` (`app.model`) handed to a queue (`app.run`); `bodies` and
`connections` bound what unauthenticated clients may send.
"""
