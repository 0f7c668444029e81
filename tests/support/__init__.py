"""Helpers shared by several test modules; fixtures stay in the conftest.py files.

- `waiting`: `eventually()`, which polls a condition instead of sleeping for a guess.
- `clock`: clocks a test moves by hand.
- `services`: a skip (or, in CI, a failure) for a missing service; throwaway databases.
- `servers`: free ports, uvicorn in a thread, moto's S3 server, an SMTP server.
- `media`: real media generated with PyAV.
- `accounts`: sign-in codes from the dev outbox, signed-in tokens.
- `tus`: raw tus requests a client library will not send (a body cut short).
- `stream`: the published videos that the HLS and watch-page tests play.
- `browser`: Debian's Chromium under Playwright.
- `launch`: `vidray up` as a subprocess, and GraphQL against it.
"""
