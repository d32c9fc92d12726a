"""Writes for chat: conversations, messages and replies.

The order of a chat turn is what the guarantees in DESIGN.md rest on:

1. the patient's message is committed (before anything can fail upstream);
2. the input screen runs: ``crisis`` stores the fixed crisis reply, flags the conversation
   and never asks the model; ``concern`` adds guidance to the system prompt and resources
   to the reply;
3. the model answers; every piece of its text passes the output screen before the patient
   or the database sees it (an unsafe reply is replaced by the safe template);
4. the reply is stored ``ok``, or ``failed`` with the reason (and any text the patient
   already saw) when the provider fails. ``reply_retry`` answers the same patient message
   again, updating that failed reply in place: nothing is duplicated.

Modules: ``turns`` (the steps every turn shares), ``chat`` (whole turns: the REST API and the
page without JavaScript; retries), ``streaming`` (turns whose reply arrives as events).
Accounts and data rights are in ``conversations.accounts``.
"""
