"""What the notifier (actors/) and the inbox service (serve/) share: the notification
types and their default channels (`kinds.py`), the emails' templates (`letters.py`) and
the signed unsubscribe links (`unsubscribe.py`)."""
