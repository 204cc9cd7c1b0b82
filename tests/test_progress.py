import logging

from pipeline.progress import Progress


def test_log_mode_reports_rate_and_eta(caplog, monkeypatch):
    now = [0.0]
    monkeypatch.setattr("pipeline.progress.time.monotonic", lambda: now[0])
    progress = Progress(total=300, mode="log", log_every_seconds=5)
    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        now[0] = 2.0
        progress.update(10)  # within the interval: no line
        assert caplog.text == ""
        now[0] = 10.0
        progress.update(90)
    assert "100/300 articles, 10.0 articles/s, ETA 0m20s" in caplog.text


def test_unknown_total_has_no_eta():
    progress = Progress(total=None, mode="off")
    progress.update(5)
    assert "ETA" not in progress.status() and progress.status().startswith("5 articles")


def test_resumed_run_rate_counts_only_this_runs_rows(caplog, monkeypatch):
    """A run resumed at row 900 of 1,000 has done 50 rows in 10 s: 5/s and 10 s to go, not 95/s."""
    now = [0.0]
    monkeypatch.setattr("pipeline.progress.time.monotonic", lambda: now[0])
    progress = Progress(total=1000, mode="log", log_every_seconds=5, initial=900)
    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        now[0] = 10.0
        progress.update(50)
    assert "950/1,000 articles, 5.0 articles/s, ETA 0m10s" in caplog.text


def test_resumed_bar_starts_at_the_resumed_position():
    progress = Progress(total=1000, mode="bar", initial=900)
    try:
        progress.update(50)
        assert progress._bar.n == 950
        assert progress._bar.format_dict["initial"] == 900
    finally:
        progress.close()


def test_without_a_row_total_the_bytes_read_show_progress(caplog, monkeypatch):
    """WARC input: rows cannot be counted ahead, so the log line says how much of the input was read, with an ETA."""
    now = [0.0]
    where = [(0, 40 * 2**20)]
    monkeypatch.setattr("pipeline.progress.time.monotonic", lambda: now[0])
    progress = Progress(total=None, mode="log", log_every_seconds=5, position=lambda: where[0])
    with caplog.at_level(logging.INFO, logger="pipeline.progress"):
        now[0], where[0] = 10.0, (10 * 2**20, 40 * 2**20)
        progress.update(200)
    assert "200 articles, 10.0/40.0 MiB read, 20.0 articles/s, ETA 0m30s" in caplog.text


def test_bytes_bar_follows_the_reader_position():
    where = [(0, 1000)]
    progress = Progress(total=None, mode="bar", position=lambda: where[0])
    try:
        where[0] = (600, 1000)
        progress.update(3)
        assert (progress._bar.n, progress._bar.total) == (600, 1000)
    finally:
        progress.close()

