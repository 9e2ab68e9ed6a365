"""The portfolio's pure parts: visibility queries from filters, the counts the dashboard shows,
and contracts read from a CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from activities.models import TaskRow
from starter.contracts import ContractsError, read_contracts
from starter.portfolio import (
    FilterError,
    Filters,
    JourneyRow,
    changed_since,
    quarter_start,
    summarise,
    visibility_query,
)

BASE = "WorkflowType = 'CustomerJourney' AND ExecutionStatus = 'Running'"


def test_filters_become_a_visibility_query() -> None:
    assert visibility_query(Filters()) == BASE
    query = visibility_query(
        Filters(health="yellow", segment="enterprise", stage="onboarding", csm="dana lee")
    )
    assert query == (
        f"{BASE} AND WaypostHealth = 'yellow' AND WaypostStage = 'onboarding' "
        "AND WaypostSegment = 'enterprise' AND WaypostCsm = 'dana lee'"
    )
    assert visibility_query(Filters(health="unscored")) == f"{BASE} AND WaypostHealth IS NULL"
    closed = visibility_query(Filters(include_closed=True, task_queue="waypost"))
    assert closed == "WorkflowType = 'CustomerJourney' AND TaskQueue = 'waypost'"


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        (Filters(health="purple"), "health"),
        (Filters(segment="x' OR WorkflowType != 'y"), "segment"),
        (Filters(csm='"dana"'), "csm"),
        (Filters(stage=""), "stage"),
        (Filters(tier="a" * 101), "tier"),
    ],
)
def test_a_value_that_could_change_the_query_is_refused(filters: Filters, names: str) -> None:
    with pytest.raises(FilterError, match=rf"^{names}: "):
        visibility_query(filters)


def _row(account_id: str, **fields: object) -> JourneyRow:
    values: dict[str, object] = {
        "account_id": account_id,
        "workflow_id": f"journey-{account_id}",
        "running": True,
        "segment": "smb",
        "stage": "onboarding",
        "today": date(2026, 5, 20),
    }
    values.update(fields)
    return JourneyRow.model_validate(values)


def _task(account_id: str, csm: str) -> TaskRow:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    return TaskRow(
        id=1,
        idempotency_key=f"k-{account_id}",
        play_id=f"play-{account_id}",
        account_id=account_id,
        step="s",
        title="t",
        assignee_role="csm",
        csm=csm,
        due_at=now,
        status="open",
        created_at=now,
    )


def test_summarise_counts_stage_by_health_plays_tasks_and_renewals() -> None:
    rows = [
        _row("a", health="yellow", open_play_titles=["Recover"], renewal_date=date(2026, 6, 1)),
        _row("b", health="yellow", open_play_titles=["Recover", "Renew"]),
        _row("c", health="green", stage="new", renewal_date=date(2026, 12, 1)),
        _row("d", stage="mystery", renewal_date=date(2026, 5, 1)),  # renewal passed
        _row("e", health="red", stage="established", renewal_date=date(2026, 8, 18)),
    ]
    overdue = [_task("a", "dana"), _task("b", "dana"), _task("e", "sam"), _task("zz", "kim")]
    folio = summarise(
        rows, overdue, order=["onboarding", "adoption", "new", "established", "mature", "ended"]
    )
    assert folio.stages == ["onboarding", "new", "established", "mystery"]
    assert folio.grid["onboarding"] == {"green": 0, "yellow": 2, "red": 0, "unscored": 0}
    assert folio.grid["mystery"]["unscored"] == 1
    assert folio.health_totals == {"green": 1, "yellow": 2, "red": 1, "unscored": 1}
    assert folio.plays_by_kind == {"Recover": 2, "Renew": 1}
    assert folio.overdue_by_csm == {"dana": 2, "sam": 1}  # kim's account is not in view
    # Within 90 days of each journey's own today: 12 and 90 days; not 195, not -19.
    assert [(r.account_id, r.days) for r in folio.renewals] == [("a", 12), ("e", 90)]
    assert folio.as_of == date(2026, 5, 20)


def test_turned_yellow_since_is_the_latest_change() -> None:
    rows = [
        _row("a", health="yellow", health_changed_at=datetime(2026, 4, 2, tzinfo=UTC)),
        _row("b", health="yellow", health_changed_at=datetime(2026, 3, 31, tzinfo=UTC)),
        _row("c", health="yellow"),
    ]
    quarter = quarter_start(date(2026, 5, 20))
    assert quarter == date(2026, 4, 1)
    assert [r.account_id for r in changed_since(rows, quarter)] == ["a"]
    assert len(changed_since(rows, None)) == 3
    assert [quarter_start(date(2026, m, 9)).month for m in (1, 3, 4, 9, 10, 12)] == [
        1,
        1,
        4,
        7,
        10,
        10,
    ]


CSV_HEADER = "account_id,name,segment,tier,add_ons,seats,contract_start,contract_end,csm,contacts"


def test_contracts_come_from_a_csv() -> None:
    text = "\n".join(
        [
            CSV_HEADER,
            "acme,Acme Logistics,smb,base,,25,2026-01-01,2027-01-01,dana,",
            'globex,"Globex, Inc.",enterprise,premium,sso;api,900,2026-02-01,2028-02-01,lee,'
            '"[{""contact_id"": ""g-admin"", ""name"": ""Gia"", ""persona"": ""admin""}]"',
        ]
    )
    acme, globex = read_contracts(text)
    assert acme.account_id == "acme" and acme.add_ons == () and acme.contacts == ()
    assert globex.name == "Globex, Inc." and globex.add_ons == ("sso", "api")
    assert globex.contacts[0].persona == "admin"
    # Columns may come in any order, and `contacts` may be left out.
    reordered = "csm,account_id,name,segment,tier,seats,contract_start,contract_end\n"
    reordered += "dana,initech,Initech,smb,base,5,2026-01-01,2027-01-01\n"
    assert read_contracts(reordered)[0].csm == "dana"


def test_every_problem_in_a_csv_is_named_with_its_line() -> None:
    text = "\n".join(
        [
            CSV_HEADER,
            "acme,Acme,smb,base,,many,2026-01-01,2027-01-01,dana,",
            "Bad Id,Bad,smb,base,,5,2026-01-01,2027-01-01,dana,",
            "ok,Ok,smb,base,,5,2026-01-01,2025-01-01,dana,",
            "ok2,Ok2,smb,base,,5,2026-01-01,2027-01-01,dana,[not json",
            "dup,Dup,smb,base,,5,2026-01-01,2027-01-01,dana,",
            "dup,Dup,smb,base,,5,2026-01-01,2027-01-01,dana,",
            "x,X,smb,base,,5,2026-01-01,2027-01-01,dana,,extra",
        ]
    )
    with pytest.raises(ContractsError) as caught:
        read_contracts(text)
    errors = caught.value.errors
    assert errors[0].startswith("line 2, seats: ")
    assert errors[1].startswith("line 3, account_id: ")
    assert errors[2].startswith("line 4, (row): Value error, contract_end must be after")
    assert errors[3] == "line 5: a JSON cell is not JSON (Expecting value)"
    assert errors[4] == "line 7: account_id 'dup' is already on line 6"
    assert errors[5] == "line 8: more cells than columns"
    assert len(errors) == 6


def test_a_csv_with_a_wrong_header_says_which_columns() -> None:
    with pytest.raises(ContractsError) as caught:
        read_contracts("account_id,name,colour\nacme,Acme,blue\n")
    assert "header: missing column 'segment'" in caught.value.errors
    assert any(e.startswith("header: unknown column 'colour'") for e in caught.value.errors)
    with pytest.raises(ContractsError) as empty:
        read_contracts(CSV_HEADER + "\n")
    assert empty.value.errors == ["the file has a header but no contracts"]
