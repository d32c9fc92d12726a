"""Signals other apps listen to (the training app: the threshold trigger).

Sent with ``transaction.on_commit`` by the services, so a listener never sees
a state that was rolled back.
"""

import django.dispatch

# kwargs: conversation_id, approved_through_message_id, message_count (newly approved)
transcript_approved = django.dispatch.Signal()
