"""The README's configuration table lists every environment variable the settings read."""

import re

from devtools.servers import ROOT


def _variables(path: str, pattern: str) -> set[str]:
    return set(re.findall(pattern, (ROOT / path).read_text()))


def test_every_environment_variable_in_settings_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- section: configuration", 1)[1].split("<!-- /section: configuration -->", 1)[0]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))
    read = _variables("therapist_ai/settings.py", r'env\w*\(\s*"([A-Z][A-Z0-9_]+)"')
    read |= _variables("gunicorn.conf.py", r"os\.environ\.get\(\s*['\"]([A-Z][A-Z0-9_]+)['\"]")
    assert len(read) > 40
    assert sorted(read - documented) == [], "add these to the README configuration table"
