"""Notifications on the request path: the in-app inbox and preferences (`inbox.py`),
campaigns (`campaigns.py`) and the one-click unsubscribe endpoint (`routes.py`).
Deciding and delivering is the notifier actor's (`actors/notifier.py`)."""
