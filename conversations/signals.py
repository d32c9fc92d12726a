"""Signals of the chat flow that higher layers listen to (the training app: shadow replies).

Sent with ``transaction.on_commit``, so a listener never sees a reply that was rolled back.
"""

import django.dispatch

# kwargs: patient_message_id, reply_id, provider, fallback_reason ("" unless another provider
# answered), replaced (the output screen replaced the text); the reply is stored "ok"
reply_stored = django.dispatch.Signal()
