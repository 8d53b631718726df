"""The documentation runs as tests (Sybil): every ```python block of the
documents in `tests.doc_commands.DOCUMENTS` runs as written (the blocks of a
document share one namespace, in order), and every command of a ```sh or
```bash block must name a `deeprx` command and options that exist.
`tests/test_docs.py` checks the commands in the prose and runs the fenced
ones at a tiny size."""

from sybil import Sybil
from sybil.parsers.markdown import CodeBlockParser, PythonCodeBlockParser

from tests.doc_commands import DOCUMENTS, SHELL_LANGUAGES, check_shell_block

pytest_collect_file = Sybil(
    parsers=[PythonCodeBlockParser(),
             *(CodeBlockParser(language, check_shell_block) for language in SHELL_LANGUAGES)],
    patterns=DOCUMENTS,
).pytest()
