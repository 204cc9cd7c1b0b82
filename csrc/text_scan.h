/* The scan of csrc/text.c for one code-unit type (CP_T uint16_t or uint32_t). */
static void FN(scan_doc)(const ScanJob *job, int64_t d) {
    const CP_T *cp = job->cp;
    const uint8_t *flags = job->flags, *verdict = job->verdict;
    const uint64_t *packed = job->packed;
    int64_t start = job->offsets[d], end = job->offsets[d + 1];
    uint32_t dirty = 0, seen = 0, window = 0;
    int64_t *counts = job->counts + 4 * d;
    for (int k = 0; k < 4; k++) counts[k] = 0;
    for (int64_t chunk = start; chunk < end; chunk += FLUSH) {
        uint64_t lanes = 0;
        int64_t stop = chunk + FLUSH < end ? chunk + FLUSH : end;
        for (int64_t i = chunk; i < stop; i++) {
            uint32_t c = cp[i];
            if (c > 0xFFFF) c = 0xD800; /* only in UTF-32 input (an astral character: counted in Python) */
            uint32_t f = flags[c];
            seen |= f;
            window = ((window << 4) | (f & 15)) & 0xFFF;
            dirty |= verdict[window];
            lanes += packed[c];
        }
        for (int k = 0; k < 4; k++) counts[k] += (int64_t)((lanes >> (LANE * k)) & 0xFFFF);
    }
    if (end > start) {
        uint32_t first = cp[start];
        if (first > 0xFFFF) first = 0xD800;
        if ((flags[first] | window) & (SPACE | NEWLINE)) dirty = DIRTY; /* whitespace at either end of the text */
    }
    job->status[d] = (uint8_t)(dirty | (seen & NFC_UNSAFE ? MAYBE_NOT_NFC : 0) | (seen & UNKNOWN ? HAS_UNKNOWN : 0) |
                               (seen & LESS_THAN ? HAS_LESS_THAN : 0));
}
