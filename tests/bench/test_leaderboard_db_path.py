"""`valor-bench leaderboard` reads the --db it is given: a missing file is a usage error, never created;
only --add-reference, whose purpose is to write rows, may create it."""

from __future__ import annotations

from click.testing import CliRunner

from valor_bench.cli import main


def test_showing_a_missing_db_is_an_error_and_creates_nothing(tmp_path):
    db = tmp_path / "typo" / "lb.sqlite"
    res = CliRunner().invoke(main, ["leaderboard", "--task", "avr", "--db", str(db)])
    assert res.exit_code == 2
    assert f"Invalid value for --db: {db}: no such leaderboard file" in res.output
    assert not db.exists() and not db.parent.exists()


def test_the_default_db_missing_is_the_same_error(tmp_path, monkeypatch):
    monkeypatch.setenv("VALOR_LEADERBOARD", str(tmp_path / "lb.sqlite"))
    res = CliRunner().invoke(main, ["leaderboard", "--task", "avc"])
    assert res.exit_code == 2 and "no such leaderboard file" in res.output
    assert not (tmp_path / "lb.sqlite").exists()


def test_add_reference_creates_the_db_and_then_it_shows(tmp_path):
    db = tmp_path / "lb.sqlite"
    assert CliRunner().invoke(main, ["leaderboard", "--add-reference", "--db", str(db)]).exit_code == 0
    res = CliRunner().invoke(main, ["leaderboard", "--task", "avr", "--db", str(db)])
    assert res.exit_code == 0 and "VALOR-L" in res.output
