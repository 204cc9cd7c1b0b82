/* The per-article kernel of csrc/summarize.c for one code-unit type: included once with CP_T uint16_t
 * (UTF-16 batches) and once with uint32_t (UTF-32), FN(name) naming each copy. */

static inline int FN(flag)(const CP_T *cp, int64_t i, const uint8_t *flags, int bit) {
    uint32_t c = cp[i];
    return c < TABLE_SIZE && (flags[c] & bit) != 0;
}

static void FN(vocabulary_keys)(const CP_T *cp, const int64_t *offsets, int64_t n, const uint32_t *lower,
                                uint64_t *keys) {
    for (int64_t t = 0; t < n; t++) {
        uint64_t h = FNV_OFFSET, first = FNV_OFFSET;
        int pair = 0;
        for (int64_t i = offsets[t]; i < offsets[t + 1]; i++) {
            uint32_t c = cp[i];
            if (c == 32 && !pair) {
                pair = 1;
                first = h;
                h = FNV_OFFSET;
                continue;
            }
            h = (h ^ (uint64_t)(c < TABLE_SIZE ? lower[c] : c)) * FNV_PRIME;
        }
        keys[t] = pair ? pair_key(first, h) : unigram_key(h);
    }
}

/* Append the \w+ tokens of cp[start:end] from index pos: char span, FNV hash of the lower-cased
 * characters, and whether the token is a figure (has a decimal digit). */
static int64_t FN(tokenize)(const CP_T *cp, int64_t start, int64_t end, const uint32_t *lower, const uint8_t *flags,
                            int64_t *tok_start, int64_t *tok_end, uint64_t *tok_hash, uint8_t *tok_digit,
                            int64_t pos) {
    int64_t i = start;
    while (i < end) {
        if (!FN(flag)(cp, i, flags, WORD)) {
            i++;
            continue;
        }
        int64_t s = i;
        uint64_t h = FNV_OFFSET;
        int digit = 0;
        while (i < end && FN(flag)(cp, i, flags, WORD)) {
            uint32_t c = cp[i];
            digit = digit || (flags[c] & DIGIT) != 0;
            h = (h ^ (uint64_t)lower[c]) * FNV_PRIME;
            i++;
        }
        tok_start[pos] = s;
        tok_end[pos] = i;
        tok_hash[pos] = h;
        tok_digit[pos] = (uint8_t)digit;
        pos++;
    }
    return pos;
}

/* Matches of \b[A-ZÀ-ỸĐ]\w* in cp[start:end] (re.findall: left to right, non-overlapping; the
 * slice's start counts as a non-word neighbour). */
static double FN(entities)(const CP_T *cp, int64_t start, int64_t end, const uint8_t *flags) {
    int64_t count = 0, p = start;
    while (p < end) {
        int word = FN(flag)(cp, p, flags, WORD);
        int before = p > start && FN(flag)(cp, p - 1, flags, WORD);
        if (FN(flag)(cp, p, flags, CAPITAL) && word != before) {
            count++;
            p++;
            while (p < end && FN(flag)(cp, p, flags, WORD)) p++;
        } else {
            p++;
        }
    }
    return (double)count;
}

static double FN(has_quote)(const CP_T *cp, int64_t start, int64_t end, const uint8_t *flags) {
    for (int64_t p = start; p < end; p++)
        if (FN(flag)(cp, p, flags, QUOTE)) return 1.0;
    return 0.0;
}

static int64_t FN(lstrip)(const CP_T *cp, int64_t start, int64_t end, const uint8_t *flags) {
    while (start < end && FN(flag)(cp, start, flags, SPACE)) start++;
    return start;
}

static int64_t FN(rstrip)(const CP_T *cp, int64_t start, int64_t end, const uint8_t *flags) {
    while (end > start && FN(flag)(cp, end - 1, flags, SPACE)) end--;
    return end;
}

static double FN(ends_with_stop)(const CP_T *cp, int64_t start, int64_t end, const uint8_t *flags) {
    end = FN(rstrip)(cp, start, end, flags);
    while (end > start && FN(flag)(cp, end - 1, flags, CLOSER)) end--;
    return end > start && FN(flag)(cp, end - 1, flags, STOP) ? 1.0 : 0.0;
}

/* The first and the last whitespace run right after a comma: (first run's end, last run's start), -1 if none. */
static void FN(clause_breaks)(const CP_T *cp, int64_t start, int64_t end, const uint8_t *flags, int64_t *first_end,
                              int64_t *last_start) {
    *first_end = -1;
    *last_start = -1;
    int64_t p = start + 1;
    while (p < end) {
        if (cp[p - 1] == COMMA && FN(flag)(cp, p, flags, SPACE)) {
            int64_t q = p;
            while (q < end && FN(flag)(cp, q, flags, SPACE)) q++;
            if (*first_end < 0) *first_end = q;
            *last_start = p;
            p = q;
        } else {
            p++;
        }
    }
}

/* Candidates (sentence, trim) and features of one article: its title is text t0, its sentences the
 * n texts after it. Candidates are the whole sentences in order, then the leading-clause trims,
 * then the trailing-clause trims (pipeline/summarize/clauses.py). Appends to out; scratch from ar. */
static int FN(article)(const CP_T *cp, const int64_t *offs, int64_t t0, int64_t n, const Tables *tb, Arena *ar,
                       Vec *out_sent, Vec *out_trim, Vec *out_x, int64_t *n_out) {
    const uint8_t *flags = tb->flags;
    int64_t n_chars = offs[t0 + n + 1] - offs[t0];
    int64_t cap = n_chars / 2 + n + 2;
    int64_t *tok_start = NEW(ar, int64_t, cap), *tok_end = NEW(ar, int64_t, cap);
    uint64_t *tok_hash = NEW(ar, uint64_t, cap);
    uint8_t *tok_digit = NEW(ar, uint8_t, cap);
    int64_t *starts = NEW(ar, int64_t, n), *sizes = NEW(ar, int64_t, n);
    int64_t pos = 0;
    for (int64_t i = 0; i < n; i++) {
        starts[i] = pos;
        pos = FN(tokenize)(cp, offs[t0 + 1 + i], offs[t0 + 2 + i], tb->lower, flags, tok_start, tok_end, tok_hash,
                           tok_digit, pos);
        sizes[i] = pos - starts[i];
    }
    int64_t n_tok = pos;
    pos = FN(tokenize)(cp, offs[t0], offs[t0 + 1], tb->lower, flags, tok_start, tok_end, tok_hash, tok_digit, pos);
    int64_t n_title = pos - n_tok;

    /* Local term ids in first-occurrence order (sentences, then the title): an open-addressing table. */
    int64_t size = 1;
    while (size < 2 * pos + 2) size *= 2;
    uint64_t *slot_key = ZEROS(ar, uint64_t, size);
    int64_t *slot_id = NEW(ar, int64_t, size);
    for (int64_t s = 0; s < size; s++) slot_id[s] = -1;
    int64_t *ids = NEW(ar, int64_t, pos);
    uint64_t *term_hash = NEW(ar, uint64_t, pos);
    uint8_t *term_digit = ZEROS(ar, uint8_t, pos);
    int64_t width = 0;
    uint64_t mask = (uint64_t)(size - 1);
    for (int64_t t = 0; t < pos; t++) {
        uint64_t h = tok_hash[t];
        uint64_t s = splitmix64(h) & mask;
        while (slot_id[s] >= 0 && slot_key[s] != h) s = (s + 1) & mask;
        if (slot_id[s] < 0) {
            slot_key[s] = h;
            slot_id[s] = width;
            term_hash[width] = h;
            term_digit[width] = tok_digit[t];
            width++;
        }
        ids[t] = slot_id[s];
    }
    const int64_t *title_ids = ids + n_tok;

    /* Candidates. */
    int64_t *lead_end = NEW(ar, int64_t, n), *trail_start = NEW(ar, int64_t, n);
    int64_t *lead_k = ZEROS(ar, int64_t, n), *trail_k = ZEROS(ar, int64_t, n);
    for (int64_t i = 0; i < n; i++) lead_end[i] = trail_start[i] = -1;
    int64_t m = n;
    if (tb->trim_clauses) {
        for (int64_t i = 0; i < n; i++) {
            int64_t a = offs[t0 + 1 + i], b = offs[t0 + 2 + i], first_end, last_start;
            FN(clause_breaks)(cp, a, b, flags, &first_end, &last_start);
            if (first_end >= 0) {
                lead_end[i] = first_end;
                trail_start[i] = last_start;
                for (int64_t t = starts[i]; t < starts[i] + sizes[i]; t++) {
                    if (tok_start[t] >= first_end) lead_k[i]++;
                    if (tok_end[t] <= last_start) trail_k[i]++;
                }
                if (lead_k[i] >= tb->min_trimmed) m++;
                if (trail_k[i] >= tb->min_trimmed) m++;
            }
        }
    }
    int64_t *c_sent = NEW(ar, int64_t, m), *c_trim = NEW(ar, int64_t, m), *c_first = NEW(ar, int64_t, m),
            *c_k = NEW(ar, int64_t, m);
    double *entities = NEW(ar, double, m), *stop = NEW(ar, double, m), *quote = NEW(ar, double, m),
           *colon = NEW(ar, double, m);
    for (int64_t i = 0; i < n; i++) {
        int64_t a = offs[t0 + 1 + i], b = offs[t0 + 2 + i];
        c_sent[i] = i;
        c_trim[i] = 0;
        c_first[i] = starts[i];
        c_k[i] = sizes[i];
        int64_t s = FN(lstrip)(cp, a, b, flags);
        entities[i] = s < FN(rstrip)(cp, a, b, flags) ? FN(entities)(cp, s + 1, b, flags) : 0.0;
        stop[i] = FN(ends_with_stop)(cp, a, b, flags);
        quote[i] = FN(has_quote)(cp, a, b, flags);
        int64_t e = FN(rstrip)(cp, a, b, flags);
        colon[i] = e > a && cp[e - 1] == COLON ? 1.0 : 0.0;
    }
    int64_t j = n;
    for (int kind = 1; kind <= 2; kind++) {
        for (int64_t i = 0; i < n; i++) {
            int64_t k = kind == 1 ? lead_k[i] : trail_k[i];
            if (lead_end[i] < 0 || k < tb->min_trimmed) continue;
            int64_t a = offs[t0 + 1 + i], b = offs[t0 + 2 + i];
            c_sent[j] = i;
            c_trim[j] = kind;
            c_k[j] = k;
            if (kind == 1) { /* the sentence after its first clause break, re-capitalized */
                c_first[j] = starts[i] + sizes[i] - k;
                entities[j] = FN(entities)(cp, lead_end[i] + 1, b, flags);
                stop[j] = stop[i];
                quote[j] = FN(has_quote)(cp, lead_end[i], b, flags);
                colon[j] = colon[i];
            } else { /* the sentence up to its last clause break, closed with a full stop */
                c_first[j] = starts[i];
                int64_t s = FN(lstrip)(cp, a, trail_start[i], flags);
                entities[j] = FN(entities)(cp, s + 1, trail_start[i], flags);
                stop[j] = 1.0;
                quote[j] = FN(has_quote)(cp, a, trail_start[i], flags);
                colon[j] = 0.0;
            }
            j++;
        }
    }
    return article_features(tb, ar, n, m, n_tok, n_title, pos, width, tok_hash, starts, sizes, ids, term_hash,
                            term_digit, title_ids, c_sent, c_trim, c_first, c_k, entities, stop, quote, colon,
                            out_sent, out_trim, out_x, n_out);
}
