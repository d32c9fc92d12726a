"""Development and test tools, outside the product packages (the product never imports them;
``tests/test_architecture.py`` checks it).

* ``fake_groq``: a real HTTP server speaking Groq's chat-completions API (the development
  responder of ``make run`` without a key; the tests' fake upstream).
* ``servers``: start the real web server and django-q2 clusters as subprocesses on the database
  a test or benchmark is using.
* ``factories``: patients, staff and transcripts made through the real services.
"""
