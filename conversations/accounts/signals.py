"""Signals other apps listen to (the training app marks versions trained on erased data).

Sent with ``transaction.on_commit`` by the services, so a listener never sees a state that
was rolled back.
"""

import django.dispatch

# kwargs: erasure_record_id, conversation_ids, message_ids
patient_erased = django.dispatch.Signal()
