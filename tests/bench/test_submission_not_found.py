"""A submission path that does not exist is one clean line naming it (exit 2) in every verb that reads one,
and SubmissionNotFound (not a validation problem) in the Python API."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from valor_bench.cli import main
from valor_bench.validate import SubmissionNotFound, validate_submission


@pytest.mark.parametrize("verb", ["validate", "evaluate", "submit"])
def test_a_missing_submission_is_one_line_naming_it(tmp_path, verb):
    missing = tmp_path / "nosuch.npz"
    extra = ["--name", "x", "--db", str(tmp_path / "lb.sqlite")] if verb == "submit" else []
    res = CliRunner().invoke(main, [verb, str(missing), "--task", "avr", *extra])
    assert res.exit_code == 2
    errors = [line for line in res.output.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and str(missing) in errors[0] and "does not exist" in errors[0], res.output
    assert "format:" not in res.output and not (tmp_path / "lb.sqlite").exists()


def test_the_api_raises_rather_than_reporting_a_problem(tmp_path, gt):
    with pytest.raises(SubmissionNotFound, match=r"nosuch\.json: no such submission file$"):
        validate_submission(tmp_path / "nosuch.json", "avc", gt)
