/* The per-document n-gram hashing of csrc/ngrams.c for one code-unit type (CP_T uint16_t or uint32_t). */

/* Hashes of every word n-gram (1..ngram_max) and padded character n-gram of cp[start:end] into out
 * (>= gram_capacity); toks >= n / 2 + 2 and buf >= n + 2 for n characters. Returns the count. */
static int64_t FN(fill_grams)(const CP_T *cp, int64_t start, int64_t end, const Settings *st, uint64_t *out,
                              uint64_t *toks, uint32_t *buf) {
    const uint32_t *lower_word = st->lower_word;
    int64_t n_char_orders = st->char_max > 0 ? st->char_max - st->char_min + 1 : 0, count = 0, nt = 0, i = start;
    while (i < end) {
        uint32_t c = cp[i];
        uint32_t ch = c < 0x10000 ? lower_word[c] : 0;
        i++;
        if (ch == 0) continue;
        /* one syllable: lower-cased into buf[1..length], FNV-hashed up to its last two letters (which
         * the tone style may still rewrite) */
        int64_t length = 0;
        int has_digit = 0;
        uint64_t head = FNV_OFFSET;
        for (;;) {
            if (48 <= ch && ch <= 57) has_digit = 1;
            length++;
            buf[length] = ch;
            if (length >= 3) head = (head ^ (uint64_t)buf[length - 2]) * FNV_PRIME;
            if (i >= end) break;
            c = cp[i];
            ch = c < 0x10000 ? lower_word[c] : 0;
            if (ch == 0) break;
            i++;
        }
        if (st->drop_digits && has_digit) continue;
        if (length >= 2 && st->tone_last[buf[length]] && (length < 3 || buf[length - 2] != 113)) { /* 113: "q" */
            for (int64_t k = 0; k < st->n_tones; k++)
                if (buf[length - 1] == st->tone_src[2 * k] && buf[length] == st->tone_src[2 * k + 1]) {
                    buf[length - 1] = st->tone_dst[2 * k];
                    buf[length] = st->tone_dst[2 * k + 1];
                    break;
                }
        }
        uint64_t h = head;
        for (int64_t k = length - 1 > 1 ? length - 1 : 1; k <= length; k++) h = (h ^ (uint64_t)buf[k]) * FNV_PRIME;
        if ((st->stop_bits >> (h & 63)) & 1 && in_sorted(st->stop, st->n_stop, h)) continue;
        toks[nt++] = h;
        if (n_char_orders > 0) {
            buf[0] = 32;
            buf[length + 1] = 32;
            int64_t padded = length + 2;
            for (int64_t m = st->char_min; m <= st->char_max; m++)
                for (int64_t s = 0; s <= padded - m; s++) {
                    uint64_t g = FNV_OFFSET ^ (uint64_t)m;
                    for (int64_t k = s; k < s + m; k++) g = (g ^ (uint64_t)buf[k]) * FNV_PRIME;
                    out[count++] = mix(g ^ CHAR_SALT);
                }
        }
    }
    for (int64_t t = 0; t < nt; t++) {
        uint64_t g = toks[t];
        out[count++] = mix(g + 1);
        for (int64_t order = 2; order <= st->ngram_max; order++) {
            if (t + order > nt) break;
            g = g * WORD_SALT + toks[t + order - 1];
            out[count++] = mix(g + (uint64_t)order);
        }
    }
    return count;
}

/* The end of document d: its first line's with first_line (str.partition("\n")[0]). */
static inline int64_t FN(doc_end)(const CP_T *cp, const int64_t *offsets, int64_t d, int first_line) {
    int64_t end = offsets[d + 1];
    if (first_line) {
        int64_t newline = offsets[d];
        while (newline < end && cp[newline] != 10) newline++;
        end = newline;
    }
    return end;
}
