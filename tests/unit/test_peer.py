"""The pure parts of bench/peer.py: /proc/PID/stat, CPU per request, the peer ÷ ours ratio, the table."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bench.measure import LoadResult
from bench.peer import (
    NO_LIMIT,
    OURS,
    PEER,
    Measured,
    PerRequest,
    ProcStat,
    Sample,
    cpu_ratio,
    lua_script,
    parse_proc_stat,
    parse_wrk_result,
    peer_problem,
    per_request,
    read_proc_stats,
    schedule,
    table,
    tree_ticks,
)

# A real line's shape (Linux 6.x, 52 fields); utime is field 14, stime field 15.
STAT_LINE = (
    "4242 (python3) S 4200 4242 4200 0 -1 4194560 5000 0 0 0 1234 567 0 0 20 0 3 0 12345 "
    "300000000 20000 18446744073709551615 1 1 0 0 0 0 0 16781312 16386 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
)


def test_stat_line_gives_pid_parent_and_cpu_ticks() -> None:
    parsed = parse_proc_stat(STAT_LINE)
    assert parsed == ProcStat(pid=4242, ppid=4200, utime=1234, stime=567)
    assert parsed.ticks == 1801


@pytest.mark.parametrize("name", ["a b", "x) S 1 2 (y", "((", "worker:) 7"])
def test_command_name_with_spaces_or_parentheses_does_not_shift_the_fields(name: str) -> None:
    line = STAT_LINE.replace("(python3)", f"({name})")
    assert parse_proc_stat(line) == ProcStat(pid=4242, ppid=4200, utime=1234, stime=567)


@pytest.mark.parametrize("text", ["", "garbage", "12 python S 1 2"])
def test_a_line_that_is_not_a_stat_line_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a /proc/PID/stat line"):
        parse_proc_stat(text)


def test_own_process_is_read_from_proc_with_the_right_parent() -> None:
    stats = {s.pid: s for s in read_proc_stats()}
    assert stats[os.getpid()].ppid == os.getppid()
    assert tree_ticks(stats.values(), os.getpid()) >= stats[os.getpid()].ticks


def test_a_tree_sums_the_root_and_all_its_descendants_only() -> None:
    stats = [
        ProcStat(1, 0, 1000, 1000),  # init: not ours
        ProcStat(10, 1, 5, 1),  # the uvicorn parent
        ProcStat(11, 10, 100, 20),  # a worker
        ProcStat(12, 10, 200, 30),  # another
        ProcStat(13, 12, 7, 0),  # something a worker started
        ProcStat(20, 1, 9999, 9999),  # a neighbour
    ]
    assert tree_ticks(stats, 10) == 6 + 120 + 230 + 7
    assert tree_ticks(stats, 12) == 237
    assert tree_ticks(stats, 99) == 0  # gone: nothing


def test_sample_difference_leaves_out_the_earlier_info_call() -> None:
    assert Sample(110, 30, 1000) - Sample(10, 10, 899) == Sample(100, 20, 100)


def test_per_request_turns_ticks_into_microseconds() -> None:
    # 2 s of app CPU and 0.5 s of Redis CPU (100 ticks/s) for 10 000 requests and 20 000 commands.
    cost = per_request(Sample(200, 50, 20_000), 10_000, ticks_per_second=100)
    assert cost.app_us == pytest.approx(200.0)
    assert cost.redis_us == pytest.approx(50.0)
    assert cost.total_us == pytest.approx(250.0)
    assert cost.commands == pytest.approx(2.0)
    assert cost.per_cpu_second == pytest.approx(4000.0)


def test_per_request_of_nothing_is_zero_not_a_division_error() -> None:
    assert per_request(Sample(5, 5, 5), 0, ticks_per_second=100) == PerRequest(0.0, 0.0, 0.0)
    assert PerRequest(0.0, 0.0, 0.0).per_cpu_second == 0.0


def test_ratio_is_the_peer_requests_per_cpu_second_over_ours() -> None:
    ours, peer = PerRequest(400.0, 100.0, 3.0), PerRequest(40.0, 10.0, 1.0)
    assert cpu_ratio(peer, ours) == pytest.approx(10.0)
    assert cpu_ratio(ours, peer) == pytest.approx(0.1)
    assert cpu_ratio(None, ours) is None
    assert cpu_ratio(PerRequest(0.0, 0.0, 0.0), ours) is None


def result(requests: int, seconds: float = 1.0, p50: float = 1.0, p99: float = 5.0, bad: int = 0) -> LoadResult:
    return LoadResult(requests=requests, seconds=seconds, p50_ms=p50, p99_ms=p99, bad=bad, socket_errors=0)


def measured(*runs: tuple[LoadResult, Sample]) -> Measured:
    m = Measured()
    for load, used in runs:
        m.add(load, used)
    return m


def test_measured_sums_rounds() -> None:
    m = measured(
        (result(1000, 1.0, 2.0, 10.0), Sample(10, 2, 500)), (result(3000, 1.0, 4.0, 20.0, 3), Sample(30, 6, 1500))
    )
    assert m.requests == 4000
    assert m.rate == pytest.approx(2000.0)
    assert m.mean("p50_ms") == pytest.approx(3.0)
    assert m.mean("p99_ms") == pytest.approx(15.0)
    assert m.failed == 3
    assert m.used == Sample(40, 8, 2000)


def columns(lines: list[str], label: str, server: str) -> list[str]:
    found = [line for line in lines if line.startswith(f"{label:<22} {server:<24}")]
    assert len(found) == 1, f"{label} / {server} in {lines}"
    return found[0][47:].split()


def test_table_gives_each_row_its_cost_and_the_ratio_against_the_right_peer_route() -> None:
    data = {
        (OURS, "livez"): measured((result(10_000), Sample(100, 0, 0))),  # 100 µs
        (OURS, "status"): measured((result(5_000), Sample(80, 20, 50))),  # 200 µs
        (OURS, "fragment"): measured((result(2_000), Sample(80, 0, 20))),  # 400 µs
        (OURS, "join"): measured((result(1_000), Sample(45, 5, 8_000))),  # 500 µs
        (NO_LIMIT, "join"): measured((result(2_000), Sample(45, 5, 2_000))),  # 250 µs
        (PEER, "livez"): measured((result(50_000), Sample(50, 0, 0))),  # 10 µs
        (PEER, "status"): measured((result(20_000), Sample(80, 20, 20_000))),  # 50 µs
        (PEER, "join"): measured((result(25_000), Sample(100, 25, 25_000))),  # 50 µs
    }
    lines = table(data, ticks_per_second=100)
    # req/s p50 p99 app redis total cmds/req failed ratio
    assert columns(lines, "GET /livez", OURS) == ["10000", "1.00", "5.00", "100", "0", "100", "0.000", "0", "10.00"]
    assert columns(lines, "GET /status", OURS)[3:] == ["160", "40", "200", "0.010", "0", "4.00"]
    assert columns(lines, "GET /room/status", OURS)[-1] == "8.00"  # against the peer's GET /status
    assert columns(lines, "POST /join", OURS)[5:] == ["500", "8.000", "0", "10.00"]
    assert columns(lines, "POST /join (no limit)", NO_LIMIT)[-1] == "5.00"
    assert columns(lines, "GET /status", PEER) == ["20000", "1.00", "5.00", "40", "10", "50", "1.000", "0"]
    assert len(columns(lines, "POST /join", PEER)) == 8  # no ratio on the peer's own rows


def test_without_a_peer_our_rows_are_still_printed_with_no_ratio() -> None:
    data = {(OURS, "livez"): measured((result(10_000), Sample(100, 0, 0)))}
    lines = table(data, ticks_per_second=100, idle={OURS: (60.0, 1.5, 0.5)})
    assert columns(lines, "GET /livez", OURS)[-1] == "n/a"
    assert not any(line.startswith("GET /status") for line in lines)
    assert "idle ours: 60.0 Redis commands/s, CPU 1.5 ms/s app + 0.5 ms/s Redis" in lines


def test_peer_problem_says_why_plainly(tmp_path: Path) -> None:
    assert "no peer binary given" in str(peer_problem(None))
    assert "does not exist" in str(peer_problem(str(tmp_path / "server")))
    plain = tmp_path / "plain"
    plain.write_text("#!/bin/sh\n")
    assert "not executable" in str(peer_problem(str(plain)))
    plain.chmod(plain.stat().st_mode | stat.S_IXUSR)
    assert peer_problem(str(plain)) is None
    assert "does not exist" in str(peer_problem(str(tmp_path)))  # a directory is no binary


def test_rounds_alternate_who_goes_first() -> None:
    servers = [OURS, NO_LIMIT, PEER]
    first, second = schedule(servers, 0), schedule(servers, 1)
    assert first[:2] == [(OURS, "livez"), (PEER, "livez")]
    assert second == list(reversed(first))
    assert second[:3] == [(PEER, "join"), (NO_LIMIT, "join"), (OURS, "join")]
    assert (PEER, "fragment") not in first  # the peer has no browser route
    assert {run for run in first if run[0] == PEER} == {(PEER, "livez"), (PEER, "status"), (PEER, "join")}


def test_without_a_peer_the_schedule_runs_ours_only() -> None:
    assert {server for server, _ in schedule([OURS, NO_LIMIT], 0)} == {OURS, NO_LIMIT}


def test_lua_script_cycles_tickets_into_a_header() -> None:
    script = lua_script("GET", "/room/status", {"HX-Request": "true", "Cookie": "sq_ticket={ticket}; sq_csrf=abc"})
    assert "io.lines(args[1])" in script
    assert "[ [==[Cookie]==] ] = [==[sq_ticket=]==] .. tickets[next_ticket] .. [==[; sq_csrf=abc]==]" in script
    static = lua_script("POST", "/join", {})
    assert "io.lines" not in static
    assert 'wrk.format([==[POST]==], [==[/join]==], {  }, "")' in static


def test_wrk_result_line_is_read_in_seconds_and_milliseconds() -> None:
    stdout = (
        "Running 1s test\n"
        'BENCH_RESULT {"requests": 2000, "duration_us": 1000500, "p50_us": 1500, "p99_us": 9000, "bad": 2, '
        '"socket_errors": 1}\n'
    )
    assert parse_wrk_result(stdout) == LoadResult(2000, 1.0005, 1.5, 9.0, 2, 1)
    with pytest.raises(RuntimeError, match="no result"):
        parse_wrk_result("Running 1s test\n")
