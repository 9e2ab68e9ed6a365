"""JSON logging keeps what stdlib loggers put in `extra`: workflow code logs through
`workflow.logger` (a stdlib LoggerAdapter), and its fields must reach the log line."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from temporalio import workflow

from runtime.logs import configure_logging


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """JSON logging as the worker configures it, its handler writing to a buffer; the
    logging set-up this test found is put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("json", "info")
    stream = io.StringIO()
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        structlog.reset_defaults()


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_stdlib_logger_keeps_its_extra_fields(json_lines: io.StringIO) -> None:
    logging.getLogger("waypost.test").info("x", extra={"play_id": "p"})

    (line,) = _lines(json_lines)
    assert line["event"] == "x"
    assert line["play_id"] == "p"
    assert line["level"] == "info"
    assert line["logger"] == "waypost.test"


def test_the_workflow_logger_keeps_its_extra_fields(json_lines: io.StringIO) -> None:
    # `workflow.logger` is this adapter on the "temporalio.workflow" logger; it asks whether
    # the workflow is replaying, which only a workflow can answer, so outside one the check
    # is turned off. The rest is the path workflow code takes: `process` merges `extra` (and,
    # inside a workflow, the workflow's details) into the stdlib record.
    adapter = workflow.LoggerAdapter(workflow.logger.base_logger, None)
    adapter.log_during_replay = True
    adapter.info("play exited", extra={"play_id": "p", "error": "boom"})

    (line,) = _lines(json_lines)
    assert line["event"] == "play exited"
    assert (line["play_id"], line["error"]) == ("p", "boom")
    assert line["logger"] == "temporalio.workflow"


def test_structlog_lines_are_unchanged(json_lines: io.StringIO) -> None:
    structlog.get_logger("waypost.test").info("task created", task_id=7)

    (line,) = _lines(json_lines)
    assert (line["event"], line["task_id"]) == ("task created", 7)
    assert "_from_structlog" not in line
