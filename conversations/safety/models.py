"""Clinical safety: flags raised by the input screen, crisis templates, phrase lists."""
