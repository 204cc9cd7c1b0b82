"""Vietnamese text: normalization, sentences and syllables (normalize), the character classes it
rewrites and counts (chars), its compiled batch scan (scan), and scraped news pages (pages)."""
