"""Audit 11, L6: a config with a YAML syntax error ended in PyYAML's five-line text (a caret drawing);
now one line naming the file, the line and column where the parser stopped, and why."""

import pytest

from softfer.config import load_config


@pytest.mark.parametrize(
    "text, line, column, why",
    [
        ("name: x\ngarbage: [\n", 3, 1, "expected the node content, but found '<stream end>'"),
        ("name: x\n  bad: 1\n", 2, 6, "mapping values are not allowed here"),
        ("a: 'open\n", 2, 1, "found unexpected end of stream"),
    ],
)
def test_a_yaml_syntax_error_is_one_line_with_its_place(tmp_path, text, line, column, why):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: invalid YAML at line {line}, column {column}: {why}"


def test_a_launch_config_with_a_syntax_error_is_one_line_too(tmp_path):
    from softfer.studies.launch import launch_options

    path = tmp_path / "cluster.yaml"
    path.write_text("launch:\n  jobs: [\n")
    with pytest.raises(ValueError) as info:
        launch_options(path)
    assert str(info.value) == (
        f"--launch-config {path}: invalid YAML at line 3, column 1: expected the node content, but found "
        "'<stream end>'"
    )
