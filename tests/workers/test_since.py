"""`--since`: durations and times in, a clear one-line error for anything else."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import migrations
from workers.cli import main
from workers.timespec import since_ns

NOW = 1_796_000_000 * 1_000_000_000
S = 1_000_000_000


@pytest.mark.parametrize(("text", "expected"), [
    ("30s", NOW - 30 * S), ("15m", NOW - 900 * S), ("2h", NOW - 7200 * S),
    ("7d", NOW - 7 * 86_400 * S), ("1w", NOW - 604_800 * S), (" 2h ", NOW - 7200 * S),
    ("2026-11-02T10:00:00Z", 1_793_613_600 * S),
    ("2026-11-02T11:00:00+01:00", 1_793_613_600 * S),
    ("2026-11-02T10:00:00", 1_793_613_600 * S),  # no zone: UTC, as log times are
    ("2026-11-02T10:00:00.123456Z", 1_793_613_600 * S + 123_456_000),
])
def test_durations_and_times(text: str, expected: int) -> None:
    assert since_ns(text, NOW) == expected


@pytest.mark.parametrize(("text", "says"), [
    ("99999999999999999999d", "before 1970"),
    ("20790d", "before 1970"),
    ("0001-01-01", "outside 1970 to 2262"),
    ("9999-12-31T23:59:59Z", "outside 1970 to 2262"),
    ("yesterday", "neither a duration"),
    ("2h5", "neither a duration"),
    ("-3h", "neither a duration"),
    ("", "neither a duration"),
    ("999999999999999999999d", "neither a duration"),
])
def test_bad_values_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        since_ns(text, NOW)


@pytest.mark.parametrize("since", ["99999999999999999999d", "0001-01-01", "2h5"])
def test_anomalies_with_a_bad_since_is_one_line_and_exit_2(
    db_url: str, since: str
) -> None:
    migrations.upgrade(db_url)
    result = CliRunner().invoke(main, ["--db", db_url, "anomalies", "--since", since])

    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("logwarden: --since:")
    assert "Traceback" not in result.output


def test_anomalies_since_the_epoch_lists_everything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    migrations.upgrade(url)
    result = CliRunner().invoke(main, ["--db", url, "anomalies", "--since", "20000d"])
    assert (result.exit_code, result.output) == (0, "")
