"""What a person reads after a run or an evaluation: metrics and plots (metrics), self-contained HTML reports (html)."""
