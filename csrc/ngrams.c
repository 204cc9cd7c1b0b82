/* Compiled syllable/character n-gram TF-IDF features (pipeline.topic._kernels): batch in, document
 * frequencies, CSR rows or class scores out. See pipeline/topic/ngrams.py for what and why. */
#include <math.h>

#include "common.h"

#define WORD_SALT 0x9E3779B97F4A7C15ULL
#define CHAR_SALT 0xC2B2AE3D27D4EB4FULL
#define HIGH 0xFFFFFFFF00000000ULL
#define LOW 0xFFFFFFFFULL
#define FREE 0xFFFFFFFFFFFFFFFFULL

typedef struct {
    const uint32_t *lower_word; /* per BMP code point: its lower case if a \w character, else 0 */
    const uint32_t *tone_src, *tone_dst; /* (n_tones, 2): last two letters rewritten for the tone style */
    const uint8_t *tone_last;           /* per code point: can end a rewritten pair */
    int64_t n_tones, ngram_max, char_min, char_max;
    int drop_digits;
    const uint64_t *stop; /* sorted hashes of syllables to skip */
    int64_t n_stop;
    uint64_t stop_bits; /* a one-word Bloom filter of them (bit h % 64): most syllables skip the search */
} Settings;

/* splitmix64 spreads FNV bits so the low bits index the hash table well; 0 marks an empty slot. */
static inline uint64_t mix(uint64_t h) {
    h = splitmix64(h);
    return h == 0 ? 1 : h;
}

static inline int in_sorted(const uint64_t *values, int64_t n, uint64_t h) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = (lo + hi) >> 1;
        if (values[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && values[lo] == h;
}

/* Upper bound on the n-grams of a document of n_chars characters (size of the scratch arrays). */
static inline int64_t gram_capacity(int64_t n_chars, const Settings *st) {
    int64_t n_char_orders = st->char_max > 0 ? st->char_max - st->char_min + 1 : 0;
    return (n_chars + 1) * (st->ngram_max + 3 * n_char_orders) + 1;
}

#define CP_T uint16_t
#define FN(name) name##_16
#include "ngrams_doc.h"
#undef CP_T
#undef FN
#define CP_T uint32_t
#define FN(name) name##_32
#include "ngrams_doc.h"
#undef CP_T
#undef FN

/* Scratch arrays of one thread, grown as documents need. */
typedef struct {
    uint64_t *grams, *first, *toks;
    uint32_t *buf;
    int32_t *touched;
    int64_t cap_grams, cap_chars;
    int32_t *tf;    /* dense term counts, all zero between documents */
    double *acc;    /* class scores of one document */
} Scratch;

static int grow(void **p, int64_t need, size_t item) {
    void *q = realloc(*p, item * (size_t)(need > 0 ? need : 1));
    if (!q) return -1;
    *p = q;
    return 0;
}

static int scratch_fit(Scratch *s, int64_t n_chars, const Settings *st) {
    int64_t grams = gram_capacity(n_chars, st);
    if (grams > s->cap_grams) {
        if (grow((void **)&s->grams, grams, 8) || grow((void **)&s->first, grams, 8) ||
            grow((void **)&s->touched, grams, 4))
            return -1;
        s->cap_grams = grams;
    }
    if (n_chars > s->cap_chars) {
        if (grow((void **)&s->toks, n_chars / 2 + 2, 8) || grow((void **)&s->buf, n_chars + 2, 4))
            return -1;
        s->cap_chars = n_chars;
    }
    return 0;
}

static void scratch_free(Scratch *s) {
    free(s->grams), free(s->first), free(s->toks), free(s->buf), free(s->touched), free(s->tf), free(s->acc);
}

typedef struct {
    const void *cp;
    int wide;
    const int64_t *offsets;
    int64_t n_docs;
    Settings st;
    /* lookups */
    const uint64_t *table;
    int64_t table_size;
    const float *idf;
    int64_t n_features;
    int sublinear;
    /* outputs */
    uint64_t **parts;   /* unique_grams: each document's sorted distinct hashes */
    int32_t **part_idx; /* tfidf_rows: each document's columns and values */
    float **part_val;
    int64_t *counts;
    const float *coef, *intercept; /* tfidf_scores */
    int64_t n_classes, n_blocks;
    int first_line;
    float *scores;
    Scratch *scratch; /* one per worker */
    int failed;       /* (atomic) memory ran out */
} Job;

static inline int64_t doc_grams(Job *job, Scratch *s, int64_t d, int64_t end) {
    if (job->wide)
        return fill_grams_32(job->cp, job->offsets[d], end, &job->st, s->grams, s->toks, s->buf);
    return fill_grams_16(job->cp, job->offsets[d], end, &job->st, s->grams, s->toks, s->buf);
}

static inline int64_t doc_end(Job *job, int64_t d) {
    return job->wide ? doc_end_32(job->cp, job->offsets, d, job->first_line)
                     : doc_end_16(job->cp, job->offsets, d, job->first_line);
}

static void fail(Job *job) { __atomic_store_n(&job->failed, 1, __ATOMIC_RELAXED); }

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void unique_body(void *ctx, int64_t d, int worker) {
    Job *job = ctx;
    Scratch *s = &job->scratch[worker];
    if (scratch_fit(s, job->offsets[d + 1] - job->offsets[d], &job->st)) return fail(job);
    int64_t n = doc_grams(job, s, d, job->offsets[d + 1]);
    qsort(s->grams, (size_t)n, 8, cmp_u64);
    int64_t u = 0;
    for (int64_t k = 0; k < n; k++)
        if (k == 0 || s->grams[k] != s->grams[k - 1]) s->grams[u++] = s->grams[k];
    uint64_t *part = malloc(8 * (size_t)(u > 0 ? u : 1));
    if (!part) return fail(job);
    memcpy(part, s->grams, 8 * (size_t)u);
    job->parts[d] = part;
    job->counts[d + 1] = u;
}

/* Term frequencies of a document's n-grams in s->tf (dense, by column): each hash is looked up in
 * the table; s->touched receives the distinct columns in first-occurrence order, their number returned.
 * The caller reads and resets tf at those columns. */
static inline int64_t count_terms(Job *job, Scratch *s, int64_t n_grams) {
    const uint64_t *table = job->table, *grams = s->grams;
    uint64_t mask = (uint64_t)(job->table_size - 1), *first = s->first;
    for (int64_t k = 0; k < n_grams; k++) first[k] = table[grams[k] & mask]; /* independent loads first */
    int64_t nu = 0;
    for (int64_t k = 0; k < n_grams; k++) {
        uint64_t g = grams[k], high = g & HIGH, slot = g & mask, entry = first[k];
        while (entry != FREE) {
            if ((entry & HIGH) == high) {
                int32_t col = (int32_t)(entry & LOW);
                if (s->tf[col] == 0) s->touched[nu++] = col;
                s->tf[col]++;
                break;
            }
            slot = (slot + 1) & mask;
            entry = table[slot];
        }
    }
    return nu;
}

static int tf_ready(Job *job, Scratch *s) {
    if (!s->tf && !(s->tf = calloc((size_t)(job->n_features > 0 ? job->n_features : 1), 4))) return -1;
    return 0;
}

/* Documents of block b: [b * n / blocks, (b + 1) * n / blocks). */
#define BLOCK_LO(job, b) ((b) * (job)->n_docs / (job)->n_blocks)

static void rows_body(void *ctx, int64_t b, int worker) {
    Job *job = ctx;
    Scratch *s = &job->scratch[worker];
    if (tf_ready(job, s)) return fail(job);
    for (int64_t d = BLOCK_LO(job, b); d < BLOCK_LO(job, b + 1); d++) {
        if (scratch_fit(s, job->offsets[d + 1] - job->offsets[d], &job->st)) return fail(job);
        int64_t nu = count_terms(job, s, doc_grams(job, s, d, job->offsets[d + 1]));
        int32_t *idx = malloc(4 * (size_t)(nu > 0 ? nu : 1));
        float *val = malloc(4 * (size_t)(nu > 0 ? nu : 1));
        if (!idx || !val) {
            free(idx), free(val);
            return fail(job);
        }
        double norm = 0.0;
        for (int64_t k = 0; k < nu; k++) {
            int32_t col = s->touched[k];
            double count = (double)s->tf[col];
            s->tf[col] = 0;
            double w = (job->sublinear ? 1.0 + log(count) : count) * (double)job->idf[col];
            idx[k] = col;
            val[k] = (float)w;
            norm += w * w;
        }
        if (norm > 0) {
            double scale = 1.0 / sqrt(norm);
            for (int64_t k = 0; k < nu; k++) val[k] = (float)((double)val[k] * scale);
        }
        job->part_idx[d] = idx;
        job->part_val[d] = val;
        job->counts[d + 1] = nu;
    }
}

static void scores_body(void *ctx, int64_t b, int worker) {
    Job *job = ctx;
    Scratch *s = &job->scratch[worker];
    if (tf_ready(job, s) || (!s->acc && !(s->acc = malloc(8 * (size_t)(job->n_classes > 0 ? job->n_classes : 1)))))
        return fail(job);
    int64_t lo = BLOCK_LO(job, b), hi = BLOCK_LO(job, b + 1), longest = 0;
    for (int64_t d = lo; d < hi; d++)
        if (job->offsets[d + 1] - job->offsets[d] > longest) longest = job->offsets[d + 1] - job->offsets[d];
    if (scratch_fit(s, longest, &job->st)) return fail(job);
    int64_t n_classes = job->n_classes;
    double *acc = s->acc;
    for (int64_t d = lo; d < hi; d++) {
        int64_t nu = count_terms(job, s, doc_grams(job, s, d, doc_end(job, d)));
        for (int64_t c = 0; c < n_classes; c++) acc[c] = 0.0;
        double norm = 0.0;
        for (int64_t k = 0; k < nu; k++) {
            int32_t col = s->touched[k];
            int32_t count = s->tf[col];
            s->tf[col] = 0;
            double w;
            if (count == 1) /* most n-grams occur once: tf weight 1 either way, no log */
                w = (double)job->idf[col];
            else
                w = (job->sublinear ? 1.0 + log((double)count) : (double)count) * (double)job->idf[col];
            norm += w * w;
            const float *row = job->coef + (int64_t)col * n_classes;
            for (int64_t c = 0; c < n_classes; c++) acc[c] += w * (double)row[c];
        }
        double scale = norm > 0 ? 1.0 / sqrt(norm) : 0.0;
        for (int64_t c = 0; c < n_classes; c++)
            job->scores[d * n_classes + c] = (float)(acc[c] * scale + (double)job->intercept[c]);
    }
}

/* Arguments shared by the kernels: cp, offsets, lower_word, tone_src, tone_dst, tone_last, ngram_max,
 * char_min, char_max, drop_digits, stop. */
typedef struct {
    Arr cp, offsets, lower_word, tone_src, tone_dst, tone_last, stop, table, idf, coef, intercept;
} Args;

static void args_release(Args *a) {
    arr_release(&a->cp), arr_release(&a->offsets), arr_release(&a->lower_word), arr_release(&a->tone_src);
    arr_release(&a->tone_dst), arr_release(&a->tone_last), arr_release(&a->stop), arr_release(&a->table);
    arr_release(&a->idf), arr_release(&a->coef), arr_release(&a->intercept);
}

static int job_init(Job *job, Args *a, PyObject **o, long long ngram_max, long long char_min, long long char_max,
                    int drop_digits) {
    Py_buffer probe;
    if (PyObject_GetBuffer(o[0], &probe, PyBUF_C_CONTIGUOUS) < 0) return -1;
    Py_ssize_t itemsize = probe.itemsize;
    PyBuffer_Release(&probe);
    if (arr_get(o[0], &a->cp, 'u', itemsize == 2 ? 2 : 4, 0, "code points") ||
        arr_get(o[1], &a->offsets, 'i', 8, 0, "offsets") || arr_get(o[2], &a->lower_word, 'u', 4, 0, "lower_word") ||
        arr_get(o[3], &a->tone_src, 'u', 4, 0, "tone_src") || arr_get(o[4], &a->tone_dst, 'u', 4, 0, "tone_dst") ||
        arr_get(o[5], &a->tone_last, '?', 1, 0, "tone_last") || arr_get(o[6], &a->stop, 'u', 8, 0, "stop"))
        return -1;
    if (ARR_LEN(a->lower_word) != 0x10000 || ARR_LEN(a->tone_last) != 0x10000 ||
        ARR_LEN(a->tone_src) != ARR_LEN(a->tone_dst) || ngram_max < 1 || char_min < 1 || ARR_LEN(a->offsets) < 1) {
        PyErr_SetString(PyExc_ValueError, "n-gram kernel: bad tables or settings");
        return -1;
    }
    memset(job, 0, sizeof(*job));
    job->cp = a->cp.view.buf;
    job->wide = a->cp.view.itemsize == 4;
    job->offsets = a->offsets.view.buf;
    job->n_docs = ARR_LEN(a->offsets) - 1;
    Settings *st = &job->st;
    st->lower_word = a->lower_word.view.buf;
    st->tone_src = a->tone_src.view.buf;
    st->tone_dst = a->tone_dst.view.buf;
    st->tone_last = a->tone_last.view.buf;
    st->n_tones = ARR_LEN(a->tone_src) / 2;
    st->ngram_max = ngram_max;
    st->char_min = char_min;
    st->char_max = char_max;
    st->drop_digits = drop_digits;
    st->stop = a->stop.view.buf;
    st->n_stop = ARR_LEN(a->stop);
    for (int64_t k = 0; k < st->n_stop; k++) st->stop_bits |= (uint64_t)1 << (st->stop[k] & 63);
    return 0;
}

static int lookups_init(Job *job, Args *a, PyObject *o_table, PyObject *o_idf, int sublinear) {
    if (arr_get(o_table, &a->table, 'u', 8, 0, "table") || arr_get(o_idf, &a->idf, 'f', 4, 0, "idf")) return -1;
    job->table = a->table.view.buf;
    job->table_size = ARR_LEN(a->table);
    job->idf = a->idf.view.buf;
    job->n_features = ARR_LEN(a->idf);
    job->sublinear = sublinear;
    if (job->table_size < 1 || (job->table_size & (job->table_size - 1))) {
        PyErr_SetString(PyExc_ValueError, "n-gram kernel: the table's size is not a power of two");
        return -1;
    }
    return 0;
}

static int run_parallel(Job *job, int64_t n, int threads, loop_body body) {
    if (threads < 1) threads = 1;
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    job->scratch = calloc((size_t)threads, sizeof(Scratch));
    if (!job->scratch) return -1;
    Py_BEGIN_ALLOW_THREADS
    parallel_for(n, threads, body, job);
    for (int t = 0; t < threads; t++) scratch_free(&job->scratch[t]);
    Py_END_ALLOW_THREADS
    free(job->scratch);
    return job->failed ? -1 : 0;
}

/* Per document, its distinct n-gram hashes (for document frequencies), as (ptr, values). */
static PyObject *py_unique_grams(PyObject *self, PyObject *args) {
    PyObject *o[7];
    long long ngram_max, char_min, char_max;
    int drop_digits, threads;
    if (!PyArg_ParseTuple(args, "OOOOOOLLLpOi", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &ngram_max, &char_min,
                          &char_max, &drop_digits, &o[6], &threads))
        return NULL;
    Args a = {0};
    Job job;
    PyObject *o_ptr = NULL, *o_values = NULL, *result = NULL;
    if (job_init(&job, &a, o, ngram_max, char_min, char_max, drop_digits)) goto done;
    int64_t n = job.n_docs;
    job.parts = calloc((size_t)(n > 0 ? n : 1), sizeof(uint64_t *));
    job.counts = calloc((size_t)n + 1, 8);
    if (!job.parts || !job.counts || run_parallel(&job, n, threads, unique_body)) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *ptr;
    uint64_t *values;
    if (!(o_ptr = new_array(1, n + 1, 0, "int64", (void **)&ptr))) goto done;
    ptr[0] = 0;
    for (int64_t d = 0; d < n; d++) ptr[d + 1] = ptr[d] + job.counts[d + 1];
    if (!(o_values = new_array(1, ptr[n], 0, "uint64", (void **)&values))) goto done;
    for (int64_t d = 0; d < n; d++) memcpy(values + ptr[d], job.parts[d], 8 * (size_t)(ptr[d + 1] - ptr[d]));
    result = PyTuple_Pack(2, o_ptr, o_values);
done:
    if (job.parts)
        for (int64_t d = 0; d < job.n_docs; d++) free(job.parts[d]);
    free(job.parts), free(job.counts);
    Py_XDECREF(o_ptr), Py_XDECREF(o_values);
    args_release(&a);
    return result;
}

/* Open-addressing hash table from n-gram hash to column, one 64-bit word per slot: the hash's high
 * 32 bits (a fingerprint) with the column in the low 32 bits; the slot index supplies the low bits.
 * A power-of-two size with load <= 0.5; an empty slot is all ones. */
static PyObject *py_build_table(PyObject *self, PyObject *args) {
    PyObject *o_keys;
    if (!PyArg_ParseTuple(args, "O", &o_keys)) return NULL;
    Arr keys = {0};
    PyObject *result = NULL;
    if (arr_get(o_keys, &keys, 'u', 8, 0, "keys")) goto done;
    int64_t n = ARR_LEN(keys), size = 1;
    while (size < 2 * n + 2) size *= 2;
    uint64_t *table;
    if (!(result = new_array(1, size, 0, "uint64", (void **)&table))) goto done;
    const uint64_t *k = keys.view.buf;
    uint64_t mask = (uint64_t)(size - 1);
    for (int64_t s = 0; s < size; s++) table[s] = FREE;
    for (int64_t j = 0; j < n; j++) {
        uint64_t s = k[j] & mask;
        while (table[s] != FREE) s = (s + 1) & mask;
        table[s] = (k[j] & HIGH) | (uint64_t)j;
    }
done:
    arr_release(&keys);
    return result;
}

/* CSR (indptr, indices, data) of L2-normalized TF-IDF rows; columns in first-occurrence order. */
static PyObject *py_tfidf_rows(PyObject *self, PyObject *args) {
    PyObject *o[7], *o_table, *o_idf;
    long long ngram_max, char_min, char_max, n_blocks;
    int drop_digits, sublinear, threads;
    if (!PyArg_ParseTuple(args, "OOOOOOLLLpOOOpLi", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &ngram_max, &char_min,
                          &char_max, &drop_digits, &o[6], &o_table, &o_idf, &sublinear, &n_blocks, &threads))
        return NULL;
    Args a = {0};
    Job job;
    PyObject *o_indptr = NULL, *o_indices = NULL, *o_data = NULL, *result = NULL;
    if (job_init(&job, &a, o, ngram_max, char_min, char_max, drop_digits) ||
        lookups_init(&job, &a, o_table, o_idf, sublinear))
        goto done;
    int64_t n = job.n_docs;
    job.n_blocks = n_blocks < n ? n_blocks : n;
    if (job.n_blocks < 1) job.n_blocks = 1;
    job.part_idx = calloc((size_t)(n > 0 ? n : 1), sizeof(int32_t *));
    job.part_val = calloc((size_t)(n > 0 ? n : 1), sizeof(float *));
    job.counts = calloc((size_t)n + 1, 8);
    if (!job.part_idx || !job.part_val || !job.counts || run_parallel(&job, job.n_blocks, threads, rows_body)) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *indptr;
    int32_t *indices;
    float *data;
    if (!(o_indptr = new_array(1, n + 1, 0, "int64", (void **)&indptr))) goto done;
    indptr[0] = 0;
    for (int64_t d = 0; d < n; d++) indptr[d + 1] = indptr[d] + job.counts[d + 1];
    if (!(o_indices = new_array(1, indptr[n], 0, "int32", (void **)&indices)) ||
        !(o_data = new_array(1, indptr[n], 0, "float32", (void **)&data)))
        goto done;
    for (int64_t d = 0; d < n; d++) {
        memcpy(indices + indptr[d], job.part_idx[d], 4 * (size_t)(indptr[d + 1] - indptr[d]));
        memcpy(data + indptr[d], job.part_val[d], 4 * (size_t)(indptr[d + 1] - indptr[d]));
    }
    result = PyTuple_Pack(3, o_indptr, o_indices, o_data);
done:
    if (job.part_idx)
        for (int64_t d = 0; d < job.n_docs; d++) free(job.part_idx[d]);
    if (job.part_val)
        for (int64_t d = 0; d < job.n_docs; d++) free(job.part_val[d]);
    free(job.part_idx), free(job.part_val), free(job.counts);
    Py_XDECREF(o_indptr), Py_XDECREF(o_indices), Py_XDECREF(o_data);
    args_release(&a);
    return result;
}

/* transform(texts) @ coef + intercept without building the matrix (the prediction hot path). */
static PyObject *py_tfidf_scores(PyObject *self, PyObject *args) {
    PyObject *o[7], *o_table, *o_idf, *o_coef, *o_intercept;
    long long ngram_max, char_min, char_max, n_blocks;
    int drop_digits, sublinear, first_line, threads;
    if (!PyArg_ParseTuple(args, "OOOOOOLLLpOOOpOOLpi", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &ngram_max,
                          &char_min, &char_max, &drop_digits, &o[6], &o_table, &o_idf, &sublinear, &o_coef,
                          &o_intercept, &n_blocks, &first_line, &threads))
        return NULL;
    Args a = {0};
    Job job;
    PyObject *result = NULL;
    if (job_init(&job, &a, o, ngram_max, char_min, char_max, drop_digits) ||
        lookups_init(&job, &a, o_table, o_idf, sublinear) || arr_get(o_coef, &a.coef, 'f', 4, 0, "coef") ||
        arr_get(o_intercept, &a.intercept, 'f', 4, 0, "intercept"))
        goto done;
    job.n_classes = ARR_DIM(a.coef, 1);
    if (a.coef.view.ndim != 2 || ARR_DIM(a.coef, 0) != job.n_features || ARR_LEN(a.intercept) != job.n_classes) {
        PyErr_SetString(PyExc_ValueError, "tfidf_scores: coef must be (features, classes), one intercept per class");
        goto done;
    }
    job.coef = a.coef.view.buf;
    job.intercept = a.intercept.view.buf;
    job.first_line = first_line;
    int64_t n = job.n_docs;
    job.n_blocks = n_blocks < n ? n_blocks : n;
    if (job.n_blocks < 1) job.n_blocks = 1;
    if (!(result = new_array(2, n, job.n_classes, "float32", (void **)&job.scores))) goto done;
    if (n > 0 && run_parallel(&job, job.n_blocks, threads, scores_body)) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
done:
    args_release(&a);
    return result;
}

static PyMethodDef methods[] = {
    {"unique_grams", py_unique_grams, METH_VARARGS,
     "unique_grams(cp, offsets, lower_word, tone_src, tone_dst, tone_last, ngram_max, char_min, char_max, "
     "drop_digits, stop, threads) -> (ptr, values)"},
    {"build_table", py_build_table, METH_VARARGS, "build_table(keys) -> uint64 table"},
    {"tfidf_rows", py_tfidf_rows, METH_VARARGS,
     "tfidf_rows(cp, offsets, <settings>, table, idf, sublinear, n_blocks, threads) -> (indptr, indices, data)"},
    {"tfidf_scores", py_tfidf_scores, METH_VARARGS,
     "tfidf_scores(cp, offsets, <settings>, table, idf, sublinear, coef, intercept, n_blocks, first_line, "
     "threads) -> float32 scores"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) {
    if (common_init() < 0) return NULL;
    return PyModule_Create(&module);
}
