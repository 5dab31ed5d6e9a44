"""Errors as sentences: every failure of a `logwarden` command becomes one or two lines.

Exit codes: 2 for usage and configuration (a setting, a file named by one, an argument),
1 for failures while working. No traceback reaches the terminal: an error we did not
foresee is said in one line, its traceback written to a file the line names.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import traceback
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workers.config_error import ConfigError as ConfigError  # the runtime raises it

if TYPE_CHECKING:
    import pydantic
    import sqlalchemy.exc

USAGE, FAILURE = 2, 1
_PREFIX = "LOGWARDEN_"
_SETTINGS_FIELD = re.compile(r'field "(\w+)"')
_MAX_CHARS = 400


class CliError(click.ClickException):
    """A sentence for the user and an exit code; printed without a traceback."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(_short(message))
        self.exit_code = exit_code  # type: ignore[misc]  # click reads it per instance

    def show(self, file: Any = None) -> None:
        click.echo(f"logwarden: {self.format_message()}", err=True)


class LogwardenGroup(click.Group):
    """A click group whose commands (and its own callback) never end in a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except BrokenPipeError:  # `logwarden anomalies | head`: the reader has had enough
            _quiet_stdout()
            raise SystemExit(FAILURE) from None
        except Exception as error:
            raise as_cli_error(error) from None


def _quiet_stdout() -> None:
    """Points stdout at /dev/null, so flushing it at exit does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor (a test runner's stream)
        pass


def as_cli_error(error: Exception) -> CliError:
    """The sentence and exit code for `error`."""
    # Imported here, on the way out: every command imports this module at start-up.
    import pydantic
    import pydantic_settings
    import sqlalchemy.exc
    from google.api_core import exceptions as google_errors

    from pipeline.detectors.rules import RuleConfigError
    from pipeline.parsing import InputError

    if isinstance(error, pydantic.ValidationError) and error.title == "Settings":
        return CliError(_settings_problem(error), USAGE)
    if isinstance(error, pydantic_settings.SettingsError):
        return CliError(_settings_parse_problem(str(error)), USAGE)
    if isinstance(error, ConfigError | RuleConfigError):
        return CliError(str(error), USAGE)
    if isinstance(error, FileNotFoundError | IsADirectoryError | PermissionError):
        return CliError(_file_problem(error), USAGE)
    if isinstance(error, InputError):
        return CliError(str(error), FAILURE)
    if isinstance(error, sqlalchemy.exc.DBAPIError | sqlalchemy.exc.OperationalError):
        return CliError(_database_problem(error), FAILURE)
    if isinstance(error, google_errors.GoogleAPICallError):
        return CliError(f"Google Cloud refused a call: {error.message or error}", FAILURE)
    return CliError(_unexpected(error), FAILURE)


def _settings_problem(error: pydantic.ValidationError) -> str:
    problems = []
    for item in error.errors()[:2]:
        loc = [str(part) for part in item["loc"]]
        expected = _expected(item["msg"])
        where = _setting_name(loc) + _line_of(item["loc"])
        shown = item["input"]
        if isinstance(shown, dict | list):
            problems.append(f"{where}: {expected}")
        else:
            problems.append(f"{where} is {shown!r}: expected {expected}")
    more = len(error.errors()) - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _expected(message: str) -> str:
    text = message.removeprefix("Input should be ").removeprefix("Value error, ")
    return f"a value {text}" if text.startswith(("less", "greater")) else text


def _setting_name(loc: list[str]) -> str:
    """Where the value came from: the environment variable, or the key in the config file."""
    env = _PREFIX + "__".join(loc).upper()
    if env in os.environ or not os.environ.get(f"{_PREFIX}CONFIG_FILE"):
        return env
    return f"{'.'.join(loc)} in {os.environ[f'{_PREFIX}CONFIG_FILE']}"


def _line_of(loc: tuple[str | int, ...]) -> str:
    """` (line N)` when the value came from a YAML config file."""
    name = os.environ.get(f"{_PREFIX}CONFIG_FILE", "")
    env = _PREFIX + "__".join(str(p) for p in loc).upper()
    if not name.endswith((".yaml", ".yml")) or env in os.environ:
        return ""
    from workers.config_lines import yaml_line

    line = yaml_line(Path(name), loc)
    return "" if line is None else f" (line {line})"


def _settings_parse_problem(message: str) -> str:
    match = _SETTINGS_FIELD.search(message)
    if match is None:
        return f"a setting could not be read: {message}"
    from workers.settings import Settings  # the composition root's object, read here only

    field = match[1]
    name = _PREFIX + field.upper()
    annotation = Settings.model_fields[field].annotation if field in Settings.model_fields else None
    value = os.environ.get(name)
    got = f"{value!r}" if value is not None else "a value that is not JSON"
    return f"{name} is {got}: expected {_json_shape(annotation, name)}"


def _json_shape(annotation: Any, name: str) -> str:
    import pydantic

    origin = typing.get_origin(annotation) or annotation
    if origin is list:
        return 'a JSON list, e.g. \'["console", "slack"]\''
    if origin is dict:
        return "a JSON object, e.g. '{\"api\": 0.5}'"
    if isinstance(origin, type) and issubclass(origin, pydantic.BaseModel):
        field = next(iter(origin.model_fields), "field")
        return f"a JSON object, or one variable per field ({name}__{field.upper()}=...)"
    return "JSON"


def _file_problem(error: OSError) -> str:
    if error.filename is None:
        return str(error)
    what = {FileNotFoundError: "there is no file", IsADirectoryError: "it is a directory"}
    reason = what.get(type(error), error.strerror or str(error))
    hint = ""
    if os.environ.get(f"{_PREFIX}RULES_FILE") and Path(os.environ[f"{_PREFIX}RULES_FILE"]) == Path(
        str(error.filename)
    ):
        hint = " (named by LOGWARDEN_RULES_FILE)"
    return f"cannot read {error.filename}{hint}: {reason}"


def _database_problem(error: sqlalchemy.exc.SQLAlchemyError) -> str:
    cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return (
        f"the database failed: {cause}. Check --db or LOGWARDEN_DATABASE_URL "
        "(and `logwarden migrate` for a new database)."
    )


def _unexpected(error: Exception) -> str:
    """One line for the terminal; the traceback goes to a file, for a bug report."""
    with tempfile.NamedTemporaryFile(
        "w", prefix="logwarden-error-", suffix=".txt", delete=False
    ) as handle:
        traceback.print_exception(error, file=handle)
    return f"unexpected {type(error).__name__}: {error} (details in {handle.name})"


def _short(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= _MAX_CHARS else message[: _MAX_CHARS - 1] + "…"
