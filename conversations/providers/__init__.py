"""Language-model providers behind one small interface (``base``).

``groq`` is the hosted provider (the only module importing ``groq``); ``selection`` says who
answers patients now. Providers of higher layers (a promoted local model version) register
themselves there; this layer never imports them.
"""
