/* Compiled kernels of the learned summarizer (pipeline.summarize._kernels): candidate features and
 * tree scores, a batch at a time. See pipeline/summarize/kernels.py for what they compute and why. */
#include <math.h>

#include "common.h"

#define TABLE_SIZE 0x10000
#define WORD 1
#define SPACE 2
#define DIGIT 4
#define CAPITAL 8
#define QUOTE 16
#define STOP 32
#define CLOSER 64
#define N_FEATURES 34
#define COMMA 44
#define COLON 58
#define DAMPING 0.85
#define PAIR_SALT 0x9E3779B97F4A7C15ULL
#define ROW_BLOCK 16

static inline uint64_t unigram_key(uint64_t h) { return splitmix64(h); }
static inline uint64_t pair_key(uint64_t a, uint64_t b) { return splitmix64(a * PAIR_SALT + b + 1); }

/* Row of key in the vocabulary_keys table, or -1 (an unknown term: the padded tables' last row). */
static inline int64_t find_row(const uint64_t *keys, const int64_t *rows, int64_t n_slots, uint64_t key) {
    uint64_t mask = (uint64_t)(n_slots - 1), s = key & mask;
    while (rows[s] >= 0) {
        if (keys[s] == key) return rows[s];
        s = (s + 1) & mask;
    }
    return -1;
}

typedef struct {
    const uint32_t *lower;
    const uint8_t *flags;
    const uint64_t *keys;
    const int64_t *rows;
    int64_t n_slots;
    const float *idf_padded;  /* one per vocabulary row, the unknown term's last */
    int64_t n_rows_padded;    /* len(idf_padded) */
    const float *weighted;    /* (rows, dim) */
    int64_t dim;
    int trim_clauses;
    int64_t min_trimmed;
} Tables;

/* v / |v|, or v * 0.0 when |v| is 0 (numpy's definition, signed zeros included). */
static void unit(const double *v, int64_t n, double *out) {
    double norm = 0.0;
    for (int64_t d = 0; d < n; d++) norm += v[d] * v[d];
    norm = sqrt(norm);
    for (int64_t d = 0; d < n; d++) out[d] = norm > 0 ? v[d] / norm : v[d] * 0.0;
}

/* PageRank over positive cosines between sentences (TextRank), scaled so the mean is 1; solved
 * directly, (I - d P^T) r = (1 - d) / n, by Gaussian elimination with partial pivoting. */
static void textrank(const double *emb, int64_t n, int64_t dim, Arena *ar, double *out) {
    for (int64_t i = 0; i < n; i++) out[i] = 1.0;
    if (n < 2) return;
    double *sim = ZEROS(ar, double, n * n), *a = ZEROS(ar, double, n * n), *b = NEW(ar, double, n);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) {
            double s = 0.0;
            for (int64_t d = 0; d < dim; d++) s += emb[i * dim + d] * emb[j * dim + d];
            sim[i * n + j] = sim[j * n + i] = s > 0 ? s : 0.0;
        }
    for (int64_t i = 0; i < n; i++) {
        double total = 0.0;
        for (int64_t j = 0; j < n; j++) total += sim[i * n + j];
        for (int64_t j = 0; j < n; j++) {
            double p = total > 0 ? sim[i * n + j] / total : 1.0 / (double)n;
            a[j * n + i] -= DAMPING * p; /* the transpose of the transition matrix */
        }
        a[i * n + i] += 1.0;
    }
    for (int64_t i = 0; i < n; i++) b[i] = (1 - DAMPING) / (double)n;
    for (int64_t col = 0; col < n; col++) {
        int64_t pivot = col;
        for (int64_t r = col + 1; r < n; r++)
            if (fabs(a[r * n + col]) > fabs(a[pivot * n + col])) pivot = r;
        if (pivot != col) {
            for (int64_t c = 0; c < n; c++) {
                double t = a[col * n + c];
                a[col * n + c] = a[pivot * n + c];
                a[pivot * n + c] = t;
            }
            double t = b[col];
            b[col] = b[pivot];
            b[pivot] = t;
        }
        for (int64_t r = col + 1; r < n; r++) {
            double f = a[r * n + col] / a[col * n + col];
            if (f != 0.0) {
                for (int64_t c = col; c < n; c++) a[r * n + c] -= f * a[col * n + c];
                b[r] -= f * b[col];
            }
        }
    }
    for (int64_t r = n - 1; r >= 0; r--) {
        double s = b[r];
        for (int64_t c = r + 1; c < n; c++) s -= a[r * n + c] * out[c];
        out[r] = s / a[r * n + r];
    }
    for (int64_t i = 0; i < n; i++) out[i] *= (double)n;
}

/* For each value, how many of the first n (the whole sentences) are strictly higher. */
static void above(const double *values, int64_t m, int64_t n, double *out) {
    for (int64_t j = 0; j < m; j++) {
        int64_t c = 0;
        for (int64_t i = 0; i < n; i++) c += values[i] > values[j];
        out[j] = (double)c;
    }
}

static inline void add_row(double *acc, const float *weighted, int64_t row, int64_t dim) {
    const float *w = weighted + row * dim;
    for (int64_t d = 0; d < dim; d++) acc[d] += w[d];
}

/* The features of an article's m candidates (pipeline/summarize/features.py's FEATURE_NAMES), from
 * its tokens and candidates; appended to the output vectors. Returns -1 when memory runs out. */
static int article_features(const Tables *tb, Arena *ar, int64_t n, int64_t m, int64_t n_tok, int64_t n_title,
                            int64_t pos, int64_t width, const uint64_t *tok_hash, const int64_t *starts,
                            const int64_t *sizes, const int64_t *ids, const uint64_t *term_hash,
                            const uint8_t *term_digit, const int64_t *title_ids, const int64_t *c_sent,
                            const int64_t *c_trim, const int64_t *c_first, const int64_t *c_k, const double *entities,
                            const double *stop, const double *quote, const double *colon, Vec *out_sent,
                            Vec *out_trim, Vec *out_x, int64_t *n_out) {
    const float *idf_padded = tb->idf_padded, *weighted = tb->weighted;
    /* Syllable TF-IDF within the article (documents: the whole sentences and the title; sublinear tf).
     * Rows 0..m-1 are the candidates, row m the title; each row's distinct terms in first-occurrence order. */
    int64_t *r_ptr = ZEROS(ar, int64_t, m + 2);
    int64_t nnz_cap = n_title;
    for (int64_t r = 0; r < m; r++) nnz_cap += c_k[r];
    int64_t *r_term = NEW(ar, int64_t, nnz_cap);
    double *r_count = NEW(ar, double, nnz_cap), *count = ZEROS(ar, double, width);
    int64_t nnz = 0;
    for (int64_t r = 0; r <= m; r++) {
        int64_t lo = r < m ? c_first[r] : n_tok, hi = lo + (r < m ? c_k[r] : n_title), begin = nnz;
        for (int64_t t = lo; t < hi; t++) {
            int64_t w = ids[t];
            if (count[w] == 0) r_term[nnz++] = w;
            count[w] += 1;
        }
        for (int64_t q = begin; q < nnz; q++) {
            r_count[q] = count[r_term[q]];
            count[r_term[q]] = 0;
        }
        r_ptr[r + 1] = nnz;
    }
    double *df = ZEROS(ar, double, width), *idf = NEW(ar, double, width);
    for (int64_t r = 0; r < n; r++)
        for (int64_t q = r_ptr[r]; q < r_ptr[r + 1]; q++) df[r_term[q]] += 1;
    for (int64_t q = r_ptr[m]; q < r_ptr[m + 1]; q++) df[r_term[q]] += 1;
    for (int64_t w = 0; w < width; w++) idf[w] = log((double)(n + 2) / (df[w] + 1)) + 1.0;
    double *r_w = NEW(ar, double, nnz), *r_unit = NEW(ar, double, nnz);
    for (int64_t r = 0; r <= m; r++) {
        double norm = 0.0;
        for (int64_t q = r_ptr[r]; q < r_ptr[r + 1]; q++) {
            double w = (1.0 + log(r_count[q])) * idf[r_term[q]];
            r_w[q] = w;
            norm += w * w;
        }
        norm = sqrt(norm);
        for (int64_t q = r_ptr[r]; q < r_ptr[r + 1]; q++) r_unit[q] = norm > 0 ? r_w[q] / norm : 0.0;
    }

    double *dense = ZEROS(ar, double, width), *title_cos = ZEROS(ar, double, m);
    for (int64_t q = r_ptr[m]; q < r_ptr[m + 1]; q++) dense[r_term[q]] = r_unit[q];
    for (int64_t r = 0; r < m; r++) {
        double s = 0.0;
        for (int64_t q = r_ptr[r]; q < r_ptr[r + 1]; q++) s += r_unit[q] * dense[r_term[q]];
        title_cos[r] = s;
    }
    memset(dense, 0, sizeof(double) * (size_t)width);
    /* The other sentences of the article: the sum of all whole sentences' TF-IDF minus the candidate's sentence. */
    double *whole_sum = ZEROS(ar, double, width), *rest = NEW(ar, double, width),
           *centroid_cos = ZEROS(ar, double, m);
    for (int64_t r = 0; r < n; r++)
        for (int64_t q = r_ptr[r]; q < r_ptr[r + 1]; q++) whole_sum[r_term[q]] += r_w[q];
    for (int64_t i = 0; i < n; i++) {
        memcpy(rest, whole_sum, sizeof(double) * (size_t)width);
        for (int64_t q = r_ptr[i]; q < r_ptr[i + 1]; q++) rest[r_term[q]] -= r_w[q];
        double norm = 0.0;
        for (int64_t w = 0; w < width; w++) norm += rest[w] * rest[w];
        norm = sqrt(norm);
        if (norm == 0) continue;
        for (int64_t r = 0; r < m; r++) {
            if (c_sent[r] != i) continue;
            double s = 0.0;
            for (int64_t q = r_ptr[r]; q < r_ptr[r + 1]; q++) s += r_unit[q] * rest[r_term[q]];
            centroid_cos[r] = s / norm;
        }
    }
    double *max_pair = ZEROS(ar, double, m), *first_cos = ZEROS(ar, double, m);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t q = r_ptr[i]; q < r_ptr[i + 1]; q++) dense[r_term[q]] = r_unit[q];
        for (int64_t r = 0; r < m; r++) {
            if (c_sent[r] == i) continue;
            double s = 0.0;
            for (int64_t q = r_ptr[r]; q < r_ptr[r + 1]; q++) s += r_unit[q] * dense[r_term[q]];
            if (n > 1 && s > max_pair[r]) max_pair[r] = s;
            if (i == 0) first_cos[r] = s;
        }
        for (int64_t q = r_ptr[i]; q < r_ptr[i + 1]; q++) dense[r_term[q]] = 0.0;
    }
    for (int64_t r = 0; r < m; r++)
        if (c_sent[r] == 0) first_cos[r] = 1.0;

    /* Title syllables found in each candidate (plain and weighted by corpus idf). */
    int64_t *corpus_row = NEW(ar, int64_t, width);
    for (int64_t w = 0; w < width; w++) {
        int64_t row = find_row(tb->keys, tb->rows, tb->n_slots, unigram_key(term_hash[w]));
        corpus_row[w] = row;
    }
    /* (an unknown term, -1, reads the padded tables' last row, as numpy's negative index does) */
    const int64_t n_rows_padded = tb->n_rows_padded;
#define PADDED(row) ((row) >= 0 ? (row) : n_rows_padded + (row))
    uint8_t *in_title = ZEROS(ar, uint8_t, width);
    int64_t n_title_terms = 0;
    double title_weight_sum = 0.0;
    for (int64_t q = r_ptr[m]; q < r_ptr[m + 1]; q++) {
        in_title[r_term[q]] = 1;
        n_title_terms++;
        title_weight_sum += idf_padded[PADDED(corpus_row[r_term[q]])];
    }
    double *title_overlap = ZEROS(ar, double, m), *title_recall = ZEROS(ar, double, m);
    for (int64_t r = 0; r < m; r++) {
        int64_t c = 0;
        double s = 0.0;
        for (int64_t q = r_ptr[r]; q < r_ptr[r + 1]; q++)
            if (in_title[r_term[q]]) {
                c++;
                s += idf_padded[PADDED(corpus_row[r_term[q]])];
            }
        if (n_title_terms) {
            title_overlap[r] = (double)c / (double)n_title_terms;
            title_recall[r] = s / title_weight_sum;
        }
    }
    double *numbers = ZEROS(ar, double, m);
    for (int64_t r = 0; r < m; r++)
        for (int64_t t = c_first[r]; t < c_first[r] + c_k[r]; t++)
            if (term_digit[ids[t]]) numbers[r] += 1;

    /* Syllable pairs (adjacent syllables of one sentence): local columns in first-occurrence order. */
    int64_t n_tok1 = n_tok > 1 ? n_tok : 1;
    int64_t *pair_col = NEW(ar, int64_t, n_tok1);
    for (int64_t t = 0; t < n_tok1; t++) pair_col[t] = -1;
    int64_t psize = 1;
    while (psize < 2 * n_tok + 2) psize *= 2;
    int64_t *pslot_key = ZEROS(ar, int64_t, psize), *pslot_id = NEW(ar, int64_t, psize);
    for (int64_t s = 0; s < psize; s++) pslot_id[s] = -1;
    int64_t *pair_a = NEW(ar, int64_t, n_tok1), *pair_b = NEW(ar, int64_t, n_tok1);
    int64_t pmask = psize - 1, n_pairs = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = starts[i]; t < starts[i] + sizes[i] - 1; t++) {
            int64_t key = ids[t] * width + ids[t + 1];
            int64_t s = (int64_t)(splitmix64((uint64_t)key) & (uint64_t)pmask);
            while (pslot_id[s] >= 0 && pslot_key[s] != key) s = (s + 1) & pmask;
            if (pslot_id[s] < 0) {
                pslot_key[s] = key;
                pslot_id[s] = n_pairs;
                pair_a[n_pairs] = ids[t];
                pair_b[n_pairs] = ids[t + 1];
                n_pairs++;
            }
            pair_col[t] = pslot_id[s];
        }
    int64_t *stamp = NEW(ar, int64_t, n_pairs + 1);
    double *col_count = ZEROS(ar, double, n_pairs + 1);
    for (int64_t c = 0; c <= n_pairs; c++) stamp[c] = -1;
    for (int64_t i = 0; i < n; i++)
        for (int64_t t = starts[i]; t < starts[i] + sizes[i] - 1; t++) {
            int64_t c = pair_col[t];
            if (stamp[c] != i) {
                stamp[c] = i;
                col_count[c] += 1;
            }
        }
    uint8_t *in_title_pairs = ZEROS(ar, uint8_t, n_pairs + 1);
    int64_t n_title_pairs = 0;
    if (n_title > 1) { /* distinct title pairs: a second small table */
        int64_t tsize = 1;
        while (tsize < 2 * n_title + 2) tsize *= 2;
        int64_t *tslot_key = ZEROS(ar, int64_t, tsize);
        uint8_t *tslot_used = ZEROS(ar, uint8_t, tsize);
        for (int64_t t = 0; t < n_title - 1; t++) {
            int64_t key = title_ids[t] * width + title_ids[t + 1];
            int64_t s = (int64_t)(splitmix64((uint64_t)key) & (uint64_t)(tsize - 1));
            while (tslot_used[s] && tslot_key[s] != key) s = (s + 1) & (tsize - 1);
            if (!tslot_used[s]) {
                tslot_used[s] = 1;
                tslot_key[s] = key;
                n_title_pairs++;
            }
            s = (int64_t)(splitmix64((uint64_t)key) & (uint64_t)pmask);
            while (pslot_id[s] >= 0 && pslot_key[s] != key) s = (s + 1) & pmask;
            if (pslot_id[s] >= 0) in_title_pairs[pslot_id[s]] = 1;
        }
    }
    for (int64_t c = 0; c <= n_pairs; c++) stamp[c] = -1;
    double *centrality = ZEROS(ar, double, m), *title_bigram = ZEROS(ar, double, m);
    for (int64_t r = 0; r < m; r++) {
        int64_t distinct = 0, found = 0;
        double shared = 0.0;
        for (int64_t t = c_first[r]; t < c_first[r] + c_k[r] - 1; t++) {
            int64_t c = pair_col[t];
            if (stamp[c] != r) {
                stamp[c] = r;
                distinct++;
                shared += col_count[c];
                if (in_title_pairs[c]) found++;
            }
        }
        centrality[r] = distinct > 0 ? shared / (double)distinct - 1.0 : 0.0;
        if (n_title_pairs) title_bigram[r] = (double)found / (double)n_title_pairs;
    }

    /* Corpus statistics: idf-weighted sums of the corpus vectors of a candidate's syllables and pairs. */
    int64_t dim = tb->dim;
    int64_t *pair_row = NEW(ar, int64_t, n_pairs);
    for (int64_t c = 0; c < n_pairs; c++)
        pair_row[c] = find_row(tb->keys, tb->rows, tb->n_slots, pair_key(term_hash[pair_a[c]], term_hash[pair_b[c]]));
    /* One running sum along each sentence (syllable t adds its vector and the vector of the pair it
     * ends); a candidate, a span of one sentence, is the difference of the sums at its two ends. */
    float *emb = ZEROS(ar, float, m * dim);
    double *mean_idf = ZEROS(ar, double, m);
    int64_t *cand_of = NEW(ar, int64_t, n * 3); /* per sentence: its whole, leading-trim, trailing-trim candidate */
    for (int64_t k = 0; k < n * 3; k++) cand_of[k] = -1;
    for (int64_t r = 0; r < m; r++) cand_of[c_sent[r] * 3 + c_trim[r]] = r;
    double *acc = NEW(ar, double, dim), *at_lead = ZEROS(ar, double, dim), *v = ZEROS(ar, double, dim),
           *u = NEW(ar, double, dim);
    for (int64_t i = 0; i < n; i++) {
        int64_t lead = cand_of[i * 3 + 1], trail = cand_of[i * 3 + 2];
        int64_t lead_from = lead >= 0 ? sizes[i] - c_k[lead] : -1;
        memset(acc, 0, sizeof(double) * (size_t)dim);
        double acc_idf = 0.0, lead_idf = 0.0;
        for (int64_t j = 0; j <= sizes[i]; j++) {
            if (j == lead_from) {
                memcpy(at_lead, acc, sizeof(double) * (size_t)dim);
                lead_idf = acc_idf;
                if (j > 0) {
                    int64_t row = pair_row[pair_col[starts[i] + j - 1]];
                    if (row >= 0) add_row(at_lead, weighted, row, dim);
                }
            }
            if (trail >= 0 && j == c_k[trail]) {
                unit(acc, dim, u);
                for (int64_t d = 0; d < dim; d++) emb[trail * dim + d] = (float)u[d];
                mean_idf[trail] = acc_idf / (double)j;
            }
            if (j == sizes[i]) break;
            int64_t t = starts[i] + j, row = corpus_row[ids[t]];
            acc_idf += idf_padded[PADDED(row)];
            if (row >= 0) add_row(acc, weighted, row, dim); /* (an unknown term's vector is zero) */
            if (j > 0) {
                row = pair_row[pair_col[t - 1]];
                if (row >= 0) add_row(acc, weighted, row, dim);
            }
        }
        unit(acc, dim, u);
        for (int64_t d = 0; d < dim; d++) emb[i * dim + d] = (float)u[d];
        if (sizes[i] > 0) mean_idf[i] = acc_idf / (double)sizes[i];
        if (lead >= 0) {
            for (int64_t d = 0; d < dim; d++) v[d] = acc[d] - at_lead[d];
            unit(v, dim, u);
            for (int64_t d = 0; d < dim; d++) emb[lead * dim + d] = (float)u[d];
            mean_idf[lead] = (acc_idf - lead_idf) / (double)c_k[lead];
        }
    }
    memset(v, 0, sizeof(double) * (size_t)dim);
    for (int64_t t = n_tok; t < pos; t++) {
        int64_t row = corpus_row[ids[t]];
        if (row >= 0) add_row(v, weighted, row, dim);
        if (t + 1 < pos) {
            row = find_row(tb->keys, tb->rows, tb->n_slots, pair_key(tok_hash[t], tok_hash[t + 1]));
            if (row >= 0) add_row(v, weighted, row, dim);
        }
    }
    float *title_vec = NEW(ar, float, dim);
    unit(v, dim, u);
    for (int64_t d = 0; d < dim; d++) title_vec[d] = (float)u[d];
    double *whole = NEW(ar, double, n * dim), *doc_vec = NEW(ar, double, dim), *lead_vec = NEW(ar, double, dim);
    for (int64_t k = 0; k < n * dim; k++) whole[k] = (double)emb[k];
    memset(v, 0, sizeof(double) * (size_t)dim);
    for (int64_t i = 0; i < n; i++)
        for (int64_t d = 0; d < dim; d++) v[d] += whole[i * dim + d];
    unit(v, dim, doc_vec);
    memset(v, 0, sizeof(double) * (size_t)dim);
    for (int64_t i = 0; i < (n < 3 ? n : 3); i++)
        for (int64_t d = 0; d < dim; d++) v[d] += whole[i * dim + d];
    unit(v, dim, lead_vec);
    double *doc_cos = ZEROS(ar, double, m), *title_emb_cos = ZEROS(ar, double, m), *lead_cos = ZEROS(ar, double, m);
    for (int64_t r = 0; r < m; r++)
        for (int64_t d = 0; d < dim; d++) {
            double e = (double)emb[r * dim + d];
            doc_cos[r] += e * doc_vec[d];
            title_emb_cos[r] += e * (double)title_vec[d];
            lead_cos[r] += e * lead_vec[d];
        }
    double *rank = NEW(ar, double, n);
    textrank(whole, n, dim, ar, rank);

    double best_title = 0.0;
    for (int64_t r = 0; r < n; r++)
        if (r == 0 || title_cos[r] > best_title) best_title = title_cos[r];
    if (best_title == 0.0) best_title = 1.0;
    double *title_rank = NEW(ar, double, m), *centroid_rank = NEW(ar, double, m), *doc_rank = NEW(ar, double, m),
           *title_emb_rank = NEW(ar, double, m);
    above(title_cos, m, n, title_rank);
    above(centroid_cos, m, n, centroid_rank);
    above(doc_cos, m, n, doc_rank);
    above(title_emb_cos, m, n, title_emb_rank);

    if (vec_reserve(out_sent, sizeof(int64_t) * (size_t)m) || vec_reserve(out_trim, sizeof(int64_t) * (size_t)m) ||
        vec_reserve(out_x, sizeof(float) * N_FEATURES * (size_t)m))
        return -1;
    memcpy(out_sent->data + out_sent->len, c_sent, sizeof(int64_t) * (size_t)m);
    memcpy(out_trim->data + out_trim->len, c_trim, sizeof(int64_t) * (size_t)m);
    out_sent->len += sizeof(int64_t) * (size_t)m;
    out_trim->len += sizeof(int64_t) * (size_t)m;
    float *out = (float *)(out_x->data + out_x->len);
    out_x->len += sizeof(float) * N_FEATURES * (size_t)m;
    for (int64_t r = 0; r < m; r++, out += N_FEATURES) {
        double p = (double)c_sent[r], length = (double)c_k[r], whole_length = (double)c_k[c_sent[r]];
        out[0] = (float)p;
        out[1] = (float)(1.0 / (1.0 + p));
        out[2] = (float)(p / (double)n);
        out[3] = c_sent[r] == 0 ? 1.0f : 0.0f;
        out[4] = (float)n;
        out[5] = (float)length;
        out[6] = (float)log1p(length);
        out[7] = (float)title_cos[r];
        out[8] = (float)title_rank[r];
        out[9] = (float)(title_cos[r] / best_title);
        out[10] = (float)title_overlap[r];
        out[11] = (float)centroid_cos[r];
        out[12] = (float)centroid_rank[r];
        out[13] = (float)numbers[r];
        out[14] = (float)entities[r];
        out[15] = (float)(length > 0 ? entities[r] / length : 0.0);
        out[16] = (float)stop[r];
        out[17] = (float)quote[r];
        out[18] = (float)colon[r];
        out[19] = (float)title_bigram[r];
        out[20] = (float)centrality[r];
        out[21] = (float)max_pair[r];
        out[22] = (float)first_cos[r];
        out[23] = (float)c_trim[r];
        out[24] = (float)(whole_length - length);
        out[25] = (float)title_overlap[c_sent[r]];
        out[26] = (float)doc_cos[r];
        out[27] = (float)doc_rank[r];
        out[28] = (float)title_emb_cos[r];
        out[29] = (float)title_emb_rank[r];
        out[30] = (float)lead_cos[r];
        out[31] = (float)rank[c_sent[r]];
        out[32] = (float)mean_idf[r];
        out[33] = (float)title_recall[r];
    }
    *n_out += m;
#undef PADDED
    return 0;
}

#define CP_T uint16_t
#define FN(name) name##_16
#include "summarize_article.h"
#undef CP_T
#undef FN
#define CP_T uint32_t
#define FN(name) name##_32
#include "summarize_article.h"
#undef CP_T
#undef FN

/* Code points: a uint16 (UTF-16) or uint32 (UTF-32) array, as pipeline.text.scan.encode_batch makes them. */
static int get_code_points(PyObject *obj, Arr *a) {
    Py_buffer probe;
    if (PyObject_GetBuffer(obj, &probe, PyBUF_C_CONTIGUOUS) < 0) return -1;
    Py_ssize_t itemsize = probe.itemsize;
    PyBuffer_Release(&probe);
    return arr_get(obj, a, 'u', itemsize == 2 ? 2 : 4, 0, "code points");
}

static PyObject *py_vocabulary_keys(PyObject *self, PyObject *args) {
    PyObject *o_cp, *o_offs, *o_lower;
    if (!PyArg_ParseTuple(args, "OOO", &o_cp, &o_offs, &o_lower)) return NULL;
    Arr cp = {0}, offs = {0}, lower = {0};
    PyObject *result = NULL;
    if (get_code_points(o_cp, &cp) || arr_get(o_offs, &offs, 'i', 8, 0, "offsets") ||
        arr_get(o_lower, &lower, 'u', 4, 0, "lower"))
        goto done;
    int64_t n = ARR_LEN(offs) - 1;
    uint64_t *keys;
    result = new_array(1, n, 0, "uint64", (void **)&keys);
    if (!result) goto done;
    if (cp.view.itemsize == 2)
        vocabulary_keys_16(cp.view.buf, offs.view.buf, n, lower.view.buf, keys);
    else
        vocabulary_keys_32(cp.view.buf, offs.view.buf, n, lower.view.buf, keys);
done:
    arr_release(&cp), arr_release(&offs), arr_release(&lower);
    return result;
}

/* keys -> (slot keys, slot rows): open addressing, power-of-two size with load <= 0.5, -1 an empty slot. */
static PyObject *py_hash_table(PyObject *self, PyObject *args) {
    PyObject *o_keys;
    if (!PyArg_ParseTuple(args, "O", &o_keys)) return NULL;
    Arr keys = {0};
    PyObject *o_slot_keys = NULL, *o_slot_rows = NULL, *result = NULL;
    if (arr_get(o_keys, &keys, 'u', 8, 0, "keys")) goto done;
    int64_t n = ARR_LEN(keys), size = 1;
    while (size < 2 * n + 2) size *= 2;
    uint64_t *slot_keys;
    int64_t *slot_rows;
    o_slot_keys = new_array(1, size, 0, "uint64", (void **)&slot_keys);
    o_slot_rows = o_slot_keys ? new_array(1, size, 0, "int64", (void **)&slot_rows) : NULL;
    if (!o_slot_rows) goto done;
    const uint64_t *k = keys.view.buf;
    uint64_t mask = (uint64_t)(size - 1);
    memset(slot_keys, 0, sizeof(uint64_t) * (size_t)size);
    for (int64_t s = 0; s < size; s++) slot_rows[s] = -1;
    for (int64_t row = 0; row < n; row++) {
        uint64_t s = k[row] & mask;
        while (slot_rows[s] >= 0 && slot_keys[s] != k[row]) s = (s + 1) & mask;
        if (slot_rows[s] < 0) { /* (a repeated term keeps its first row) */
            slot_keys[s] = k[row];
            slot_rows[s] = row;
        }
    }
    result = PyTuple_Pack(2, o_slot_keys, o_slot_rows);
done:
    Py_XDECREF(o_slot_keys), Py_XDECREF(o_slot_rows);
    arr_release(&keys);
    return result;
}

static PyObject *py_batch_features(PyObject *self, PyObject *args) {
    PyObject *o_cp, *o_offs, *o_first, *o_nsent, *o_lower, *o_flags, *o_keys, *o_rows, *o_idf, *o_weighted;
    int trim_clauses;
    long long min_trimmed;
    if (!PyArg_ParseTuple(args, "OOOOOOOOOOpL", &o_cp, &o_offs, &o_first, &o_nsent, &o_lower, &o_flags, &o_keys,
                          &o_rows, &o_idf, &o_weighted, &trim_clauses, &min_trimmed))
        return NULL;
    Arr cp = {0}, offs = {0}, first = {0}, nsent = {0}, lower = {0}, flags = {0}, keys = {0}, rows = {0}, idf = {0},
        weighted = {0};
    PyObject *o_offsets = NULL, *o_sentence = NULL, *o_trim = NULL, *o_features = NULL, *result = NULL;
    Vec sent = {0}, trim = {0}, x = {0};
    int64_t *offsets = NULL;
    if (get_code_points(o_cp, &cp) || arr_get(o_offs, &offs, 'i', 8, 0, "offsets") ||
        arr_get(o_first, &first, 'i', 8, 0, "article_text") || arr_get(o_nsent, &nsent, 'i', 8, 0, "n_sentences") ||
        arr_get(o_lower, &lower, 'u', 4, 0, "lower") || arr_get(o_flags, &flags, 'u', 1, 0, "flags") ||
        arr_get(o_keys, &keys, 'u', 8, 0, "keys") || arr_get(o_rows, &rows, 'i', 8, 0, "rows") ||
        arr_get(o_idf, &idf, 'f', 4, 0, "idf_padded") || arr_get(o_weighted, &weighted, 'f', 4, 0, "weighted"))
        goto done;
    if (weighted.view.ndim != 2 || ARR_LEN(first) != ARR_LEN(nsent)) {
        PyErr_SetString(PyExc_ValueError, "batch_features: weighted must be 2-D, one n_sentences per article");
        goto done;
    }
    Tables tb = {lower.view.buf, flags.view.buf, keys.view.buf, rows.view.buf, ARR_LEN(keys), idf.view.buf,
                 ARR_LEN(idf), weighted.view.buf, ARR_DIM(weighted, 1), trim_clauses, (int64_t)min_trimmed};
    int64_t n_articles = ARR_LEN(first);
    offsets = malloc(sizeof(int64_t) * (size_t)(n_articles + 1));
    Arena *ar = calloc(1, sizeof(Arena)); /* (on the heap: it survives a longjmp intact) */
    int failed = offsets == NULL || ar == NULL;
    Py_BEGIN_ALLOW_THREADS
    jmp_buf fail;
    if (!failed) ar->fail = &fail;
    if (!failed && setjmp(fail) == 0) {
        const int64_t *t0 = first.view.buf, *ns = nsent.view.buf;
        offsets[0] = 0;
        for (int64_t a = 0; a < n_articles && !failed; a++) {
            int64_t count = 0;
            if (cp.view.itemsize == 2)
                failed = article_16(cp.view.buf, offs.view.buf, t0[a], ns[a], &tb, ar, &sent, &trim, &x, &count);
            else
                failed = article_32(cp.view.buf, offs.view.buf, t0[a], ns[a], &tb, ar, &sent, &trim, &x, &count);
            offsets[a + 1] = offsets[a] + count;
            arena_reset(ar);
        }
    } else {
        failed = 1;
    }
    if (ar) arena_free(ar);
    free(ar);
    Py_END_ALLOW_THREADS
    if (failed) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t total = offsets[n_articles];
    void *p_offsets, *p_sentence, *p_trim, *p_features;
    if (!(o_offsets = new_array(1, n_articles + 1, 0, "int64", &p_offsets)) ||
        !(o_sentence = new_array(1, total, 0, "int64", &p_sentence)) ||
        !(o_trim = new_array(1, total, 0, "int64", &p_trim)) ||
        !(o_features = new_array(2, total, N_FEATURES, "float32", &p_features)))
        goto done;
    memcpy(p_offsets, offsets, sizeof(int64_t) * (size_t)(n_articles + 1));
    if (total) {
        memcpy(p_sentence, sent.data, sent.len);
        memcpy(p_trim, trim.data, trim.len);
        memcpy(p_features, x.data, x.len);
    }
    result = PyTuple_Pack(4, o_offsets, o_sentence, o_trim, o_features);
done:
    Py_XDECREF(o_offsets), Py_XDECREF(o_sentence), Py_XDECREF(o_trim), Py_XDECREF(o_features);
    free(offsets), free(sent.data), free(trim.data), free(x.data);
    arr_release(&cp), arr_release(&offs), arr_release(&first), arr_release(&nsent), arr_release(&lower);
    arr_release(&flags), arr_release(&keys), arr_release(&rows), arr_release(&idf), arr_release(&weighted);
    return result;
}

/* -- trees ----------------------------------------------------------------------------------- */
typedef struct {
    Arr left, right, feature, threshold, value, roots;
} Trees;

static int trees_get(PyObject *const *o, Trees *t) {
    return arr_get(o[0], &t->left, 'i', 8, 0, "left") || arr_get(o[1], &t->right, 'i', 8, 0, "right") ||
           arr_get(o[2], &t->feature, 'i', 8, 0, "feature") || arr_get(o[3], &t->threshold, 'f', 8, 0, "threshold") ||
           arr_get(o[4], &t->value, 'f', 8, 0, "value") || arr_get(o[5], &t->roots, 'i', 8, 0, "roots");
}

static void trees_release(Trees *t) {
    arr_release(&t->left), arr_release(&t->right), arr_release(&t->feature);
    arr_release(&t->threshold), arr_release(&t->value), arr_release(&t->roots);
}

/* The depth of the deepest tree (a tree that is one leaf has depth 0). */
static PyObject *py_tree_depth(PyObject *self, PyObject *args) {
    PyObject *o[6] = {0};
    if (!PyArg_ParseTuple(args, "OOO", &o[0], &o[1], &o[5])) return NULL;
    Arr left = {0}, right = {0}, roots = {0};
    PyObject *result = NULL;
    int64_t *stack = NULL;
    if (arr_get(o[0], &left, 'i', 8, 0, "left") || arr_get(o[1], &right, 'i', 8, 0, "right") ||
        arr_get(o[5], &roots, 'i', 8, 0, "roots"))
        goto done;
    const int64_t *l = left.view.buf, *r = right.view.buf, *root = roots.view.buf;
    stack = malloc(sizeof(int64_t) * 2 * (size_t)(ARR_LEN(left) + 1));
    if (!stack) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t deepest = 0;
    for (int64_t t = 0; t < ARR_LEN(roots); t++) {
        stack[0] = root[t], stack[1] = 0;
        int64_t top = 1;
        while (top) {
            top--;
            int64_t node = stack[2 * top], level = stack[2 * top + 1];
            if (l[node] < 0) {
                if (level > deepest) deepest = level;
            } else {
                stack[2 * top] = l[node], stack[2 * top + 1] = level + 1;
                stack[2 * top + 2] = r[node], stack[2 * top + 3] = level + 1;
                top += 2;
            }
        }
    }
    result = PyLong_FromLongLong(deepest);
done:
    free(stack);
    arr_release(&left), arr_release(&right), arr_release(&roots);
    return result;
}

/* Each tree re-laid as a complete binary tree of `depth` levels: (features, thresholds, leaves). */
static PyObject *py_complete_trees(PyObject *self, PyObject *args) {
    PyObject *o[6];
    long long depth;
    if (!PyArg_ParseTuple(args, "OOOOOOL", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &depth)) return NULL;
    if (depth < 0 || depth > 30) return PyErr_Format(PyExc_ValueError, "complete_trees: depth %lld", depth);
    Trees tr = {0};
    PyObject *o_feat = NULL, *o_thr = NULL, *o_leaf = NULL, *result = NULL;
    int64_t *stack = NULL;
    if (trees_get(o, &tr)) goto done;
    int64_t n_trees = ARR_LEN(tr.roots), inner = ((int64_t)1 << depth) - 1, width = inner > 1 ? inner : 1,
            leaves = (int64_t)1 << depth;
    int64_t *feat;
    double *thr, *leaf;
    if (!(o_feat = new_array(2, n_trees, width, "int64", (void **)&feat)) ||
        !(o_thr = new_array(2, n_trees, width, "float64", (void **)&thr)) ||
        !(o_leaf = new_array(2, n_trees, leaves, "float64", (void **)&leaf)))
        goto done;
    memset(feat, 0, sizeof(int64_t) * (size_t)(n_trees * width));
    for (int64_t k = 0; k < n_trees * width; k++) thr[k] = INFINITY;
    memset(leaf, 0, sizeof(double) * (size_t)(n_trees * leaves));
    stack = malloc(sizeof(int64_t) * 3 * (size_t)(ARR_LEN(tr.left) + 1));
    if (!stack) {
        PyErr_NoMemory();
        goto done;
    }
    const int64_t *l = tr.left.view.buf, *r = tr.right.view.buf, *feature = tr.feature.view.buf,
                  *root = tr.roots.view.buf;
    const double *threshold = tr.threshold.view.buf, *value = tr.value.view.buf;
    for (int64_t t = 0; t < n_trees; t++) {
        stack[0] = root[t], stack[1] = 0, stack[2] = 0;
        int64_t top = 1;
        while (top) {
            top--;
            int64_t node = stack[3 * top], p = stack[3 * top + 1], level = stack[3 * top + 2];
            if (l[node] < 0) {
                int64_t lo = p, hi = p;
                for (int64_t k = level; k < depth; k++) lo = 2 * lo + 1, hi = 2 * hi + 2;
                for (int64_t k = lo - inner; k <= hi - inner; k++) leaf[t * leaves + k] = value[node];
            } else {
                feat[t * width + p] = feature[node], thr[t * width + p] = threshold[node];
                int64_t *s = stack + 3 * top;
                s[0] = l[node], s[1] = 2 * p + 1, s[2] = level + 1;
                s[3] = r[node], s[4] = 2 * p + 2, s[5] = level + 1;
                top += 2;
            }
        }
    }
    result = PyTuple_Pack(3, o_feat, o_thr, o_leaf);
done:
    free(stack);
    Py_XDECREF(o_feat), Py_XDECREF(o_thr), Py_XDECREF(o_leaf);
    trees_release(&tr);
    return result;
}

/* The boosted sum over the trees of complete_trees for each row of x (left when <=); ROW_BLOCK rows
 * descend each tree level by level together, so their chains of dependent loads overlap. */
static PyObject *py_predict_complete(PyObject *self, PyObject *args) {
    PyObject *o_x, *o_feat, *o_thr, *o_leaf;
    long long depth;
    double baseline;
    if (!PyArg_ParseTuple(args, "OOOOLd", &o_x, &o_feat, &o_thr, &o_leaf, &depth, &baseline)) return NULL;
    Arr x = {0}, feat = {0}, thr = {0}, leaf = {0};
    PyObject *result = NULL;
    if (arr_get(o_x, &x, 'f', 4, 0, "x") || arr_get(o_feat, &feat, 'i', 8, 0, "feat") ||
        arr_get(o_thr, &thr, 'f', 8, 0, "thr") || arr_get(o_leaf, &leaf, 'f', 8, 0, "leaf"))
        goto done;
    int64_t n = ARR_DIM(x, 0), n_cols = ARR_DIM(x, 1), n_trees = ARR_DIM(feat, 0), width = ARR_DIM(feat, 1),
            leaves = ARR_DIM(leaf, 1), inner = ((int64_t)1 << depth) - 1;
    double *out;
    if (!(result = new_array(1, n, 0, "float64", (void **)&out))) goto done;
    const float *xs = x.view.buf;
    const int64_t *f = feat.view.buf;
    const double *th = thr.view.buf, *lf = leaf.view.buf;
    Py_BEGIN_ALLOW_THREADS
    int64_t pos[ROW_BLOCK];
    double total[ROW_BLOCK];
    for (int64_t start = 0; start < n; start += ROW_BLOCK) {
        int64_t rows = n - start < ROW_BLOCK ? n - start : ROW_BLOCK;
        for (int64_t b = 0; b < rows; b++) total[b] = 0.0;
        for (int64_t t = 0; t < n_trees; t++) {
            for (int64_t b = 0; b < rows; b++) pos[b] = 0;
            for (int64_t level = 0; level < depth; level++)
                for (int64_t b = 0; b < rows; b++) {
                    int64_t p = pos[b];
                    pos[b] = 2 * p + 1 + ((double)xs[(start + b) * n_cols + f[t * width + p]] > th[t * width + p]);
                }
            for (int64_t b = 0; b < rows; b++) total[b] += lf[t * leaves + pos[b] - inner];
        }
        for (int64_t b = 0; b < rows; b++) out[start + b] = baseline + total[b];
    }
    Py_END_ALLOW_THREADS
done:
    arr_release(&x), arr_release(&feat), arr_release(&thr), arr_release(&leaf);
    return result;
}

/* The boosted sum over all trees of each row of x, node by node (a leaf has left == -1). */
static PyObject *py_predict_nodes(PyObject *self, PyObject *args) {
    PyObject *o_x, *o[6];
    double baseline;
    if (!PyArg_ParseTuple(args, "OOOOOOOd", &o_x, &o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &baseline)) return NULL;
    Arr x = {0};
    Trees tr = {0};
    PyObject *result = NULL;
    if (arr_get(o_x, &x, 'f', 4, 0, "x") || trees_get(o, &tr)) goto done;
    int64_t n = ARR_DIM(x, 0), n_cols = ARR_DIM(x, 1), n_trees = ARR_LEN(tr.roots);
    double *out;
    if (!(result = new_array(1, n, 0, "float64", (void **)&out))) goto done;
    const float *xs = x.view.buf;
    const int64_t *l = tr.left.view.buf, *r = tr.right.view.buf, *feature = tr.feature.view.buf,
                  *root = tr.roots.view.buf;
    const double *threshold = tr.threshold.view.buf, *value = tr.value.view.buf;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t i = 0; i < n; i++) {
        double s = 0.0;
        for (int64_t t = 0; t < n_trees; t++) {
            int64_t node = root[t];
            while (l[node] >= 0) node = (double)xs[i * n_cols + feature[node]] <= threshold[node] ? l[node] : r[node];
            s += value[node];
        }
        out[i] = baseline + s;
    }
    Py_END_ALLOW_THREADS
done:
    arr_release(&x);
    trees_release(&tr);
    return result;
}

static PyMethodDef methods[] = {
    {"vocabulary_keys", py_vocabulary_keys, METH_VARARGS, "vocabulary_keys(cp, offsets, lower) -> uint64 keys"},
    {"hash_table", py_hash_table, METH_VARARGS, "hash_table(keys) -> (slot_keys, slot_rows)"},
    {"batch_features", py_batch_features, METH_VARARGS,
     "batch_features(cp, offs, article_text, n_sentences, lower, flags, keys, rows, idf_padded, weighted, "
     "trim_clauses, min_trimmed) -> (offsets, sentence, trim, features)"},
    {"tree_depth", py_tree_depth, METH_VARARGS, "tree_depth(left, right, roots) -> int"},
    {"complete_trees", py_complete_trees, METH_VARARGS,
     "complete_trees(left, right, feature, threshold, value, roots, depth) -> (feat, thr, leaf)"},
    {"predict_complete", py_predict_complete, METH_VARARGS,
     "predict_complete(x, feat, thr, leaf, depth, baseline) -> float64 scores"},
    {"predict_nodes", py_predict_nodes, METH_VARARGS,
     "predict_nodes(x, left, right, feature, threshold, value, roots, baseline) -> float64 scores"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) {
    if (common_init() < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "N_FEATURES", N_FEATURES) || PyModule_AddIntConstant(m, "WORD", WORD) ||
              PyModule_AddIntConstant(m, "SPACE", SPACE) || PyModule_AddIntConstant(m, "DIGIT", DIGIT) ||
              PyModule_AddIntConstant(m, "CAPITAL", CAPITAL) || PyModule_AddIntConstant(m, "QUOTE", QUOTE) ||
              PyModule_AddIntConstant(m, "STOP", STOP) || PyModule_AddIntConstant(m, "CLOSER", CLOSER) ||
              PyModule_AddIntConstant(m, "TABLE_SIZE", TABLE_SIZE))) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
