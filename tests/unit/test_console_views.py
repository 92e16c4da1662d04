"""The console's pure parts: the event CSV, the charts' scaling, the time to clear the queue."""

from __future__ import annotations

import csv
import io

from webapp.queue.controls import Pace
from webapp.queue.events import Event, events_csv, valid_since
from webapp.queue.operator import history_of, seconds_to_clear
from webapp.web.charts import HEIGHT, bar_chart, line_chart


def test_csv_defuses_cells_a_spreadsheet_would_run() -> None:
    events = [Event("1700000000000-0", 1_700_000_000_000, "message", "=cmd|' /c calc'!A1", "@evil", "-1+1")]
    rows = list(csv.reader(io.StringIO(events_csv(events))))
    assert rows[1][1] == "2023-11-14T22:13:20.000+00:00"
    assert rows[1][3:] == ["'=cmd|' /c calc'!A1", "'@evil", "'-1+1"]


def test_since_accepts_stream_ids_and_times_only() -> None:
    assert valid_since("0")
    assert valid_since("1700000000000-3")
    for bad in ("", "-", "abc", "1-2-3", "1" * 16, "+"):
        assert not valid_since(bad)


def test_charts_scale_to_a_round_top_and_skip_unknown_minutes() -> None:
    line = line_chart([None, 0, 7, None, 3])
    assert line.top == 10
    assert len(line.line.split()) == 3
    assert line.latest == 3
    bars = bar_chart([0, 5, 20])
    assert bars.top == 20
    assert [round(b.height) for b in bars.bars] == [0, round((HEIGHT - 8) / 4), HEIGHT - 8]
    assert line_chart([]).line == ""


def test_time_to_clear_follows_the_pace_and_is_unknown_while_paused() -> None:
    assert seconds_to_clear(25, Pace(10, 30.0, 2), paused=False) == 90.0
    assert seconds_to_clear(0, Pace(10, 30.0, 2), paused=False) == 0.0
    assert seconds_to_clear(25, Pace(10, 30.0, 2), paused=True) is None


def test_history_lists_every_minute_of_the_hour_oldest_first() -> None:
    history = history_of({"w:100": 4, "a:100": 2, "a:41": 9, "a:40": 99}, this_minute=100)
    assert len(history) == 60
    assert (history[0].minute, history[0].admitted) == (41, 9)
    assert (history[-1].waiting, history[-1].admitted) == (4, 2)
    assert history[-2].waiting is None
