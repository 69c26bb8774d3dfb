"""User text (model names, paths, file names, study names) is printed exactly as given: rich
never reads it as markup (`[/]` raised, `[bold]` vanished) or emoji codes (`:fire:`)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from cli_runner import assert_one_line_error, k49
from k49.console import styled, terminal

#: Printable text, brackets, colons and backslashes likely: what rich would read as markup.
USER_TEXT = st.text(st.one_of(st.sampled_from("[]/:\\ #@bold"),
                              st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))),
                    min_size=1, max_size=30).filter(lambda t: t.strip() == t and t.strip())
#: The same, usable as one file name.
FILE_NAME = USER_TEXT.filter(lambda t: "/" not in t and t not in (".", "..")
                             and len(t.encode()) < 200)
FAST = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


@FAST
@given(USER_TEXT)
@example("[/]")
@example("[bold]a[/bold] :fire: [link=x]y")
def test_a_k49_console_prints_any_text_unchanged(text):
    console = terminal()
    with console.capture() as captured:
        console.print(text, soft_wrap=True)
        console.print(styled(("error:", "bold red"), " ", text), soft_wrap=True)
    assert captured.get() == f"{text}\nerror: {text}\n"


@FAST
@given(USER_TEXT)
@example("NN[/]")
@example("[draft] :fire:")
def test_error_lines_show_model_names_and_paths_as_given(tmp_path_factory, text):
    assert_one_line_error(k49("train", text), f"unknown model {text!r}")
    assert_one_line_error(k49("evaluate", text), f"{text} is not a run directory")


@pytest.mark.slow
@FAST
@given(FILE_NAME)
@example("[bold]x.png")
@example(":fire: [red]x [link=y].png")
def test_predict_names_each_image_file_as_given(done_run, tmp_path_factory, name):
    image = tmp_path_factory.mktemp("images") / name
    pixels = np.zeros((28, 28), np.uint8)
    pixels[6:22, 12:16] = 255  # one stroke, light on dark
    Image.fromarray(pixels).save(image, format="PNG")
    result = k49("predict", done_run, image)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == str(image)  # after the synthetic-data warning


@pytest.mark.slow
def test_a_training_whose_out_has_brackets_ends_with_its_path(synth_dir, tmp_path):
    out = tmp_path / "a[/]b [bold]:fire:"
    result = k49("train", "NN_1_adam", "--limit-train", "200", "--epochs", "1", "--quiet",
                 "--data-dir", synth_dir, "--out", out)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(f"results in {out}")
    result = k49("evaluate", out)
    assert result.returncode == 0, result.stderr
    assert f"written to {out}" in result.stdout
