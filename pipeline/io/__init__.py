"""Rows in and out: the record model (records), input readers (readers) and output sinks (writers)."""
