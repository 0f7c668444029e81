"""The whoosh distribution and the analysis the index and the queries share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from actors.search_documents import PLAIN, STEMMED, clean_text


def test_whoosh_compiles_and_imports_without_a_warning(tmp_path: Path) -> None:
    # A fresh bytecode cache: warnings raised while compiling count too.
    modules = "whoosh.index, whoosh.fields, whoosh.query, whoosh.highlight, whoosh.sorting"
    done = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-X",
            f"pycache_prefix={tmp_path}",
            "-c",
            f"import {modules}; import actors.search_documents",
        ],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_analysis_folds_stems_and_drops_stop_words() -> None:
    assert [t.text for t in STEMMED("The Runners were RUNNING to Café")] == [
        "runner",
        "were",  # not in whoosh's stop list; "the" and "to" are
        "run",
        "cafe",
    ]
    assert [t.text for t in PLAIN("The Runners")] == ["the", "runners"]


def test_clean_text_drops_nul_controls_and_lone_surrogates() -> None:
    assert clean_text("a\x00b\tc\ud800d\u0007e") == "ab cde"
    assert clean_text("e\u0301") == "é"  # NFC
