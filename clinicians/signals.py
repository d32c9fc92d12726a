"""Signals other apps listen to (the training app: threshold trigger, lineage marking).

Both are sent with ``transaction.on_commit`` by the services, so a listener never sees
a state that was rolled back.
"""

import django.dispatch

# kwargs: conversation_id, approved_through_message_id, message_count (newly approved)
transcript_approved = django.dispatch.Signal()
# kwargs: erasure_record_id, conversation_ids, message_ids
patient_erased = django.dispatch.Signal()
