"""The interactive examples of the documentation run and print what the pages say they print."""

import doctest
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = ["index.md", "user-guide.md", "transfers.md", "tiff.md", "mesh.md"]


def _pycon(text: str) -> str:
    return "\n".join(re.findall(r"^```pycon\n(.*?)^```", text, flags=re.S | re.M))


@pytest.mark.parametrize("page", PAGES)
def test_page_examples(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("INTERN_CACHE_DIR", str(tmp_path / "cache"))
    source = _pycon((DOCS / page).read_text())
    test = doctest.DocTestParser().get_doctest(source, {}, page, str(DOCS / page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0, f"examples in docs/{page} do not print what the page says"
