/* Compiled kernels of pipeline.text (pipeline.text._kernels): the clean-up and letter-count scan of a
 * batch (pipeline/text/scan.py) and the MinHash signatures of the dedup stage (pipeline/text/minhash.py). */
#include "common.h"

#define LANE 16
#define FLUSH 16384
#define SPACE 2
#define NEWLINE 4
#define UNKNOWN 16
#define NFC_UNSAFE 32
#define LESS_THAN 64
#define DIRTY 1
#define MAYBE_NOT_NFC 2
#define HAS_UNKNOWN 4
#define HAS_LESS_THAN 8

typedef struct {
    const void *cp;
    const int64_t *offsets;
    const uint8_t *flags, *verdict;
    const uint64_t *packed;
    uint8_t *status;
    int64_t *counts;
    int wide;
} ScanJob;

#define CP_T uint16_t
#define FN(name) name##_16
#include "text_scan.h"
#undef CP_T
#undef FN
#define CP_T uint32_t
#define FN(name) name##_32
#include "text_scan.h"
#undef CP_T
#undef FN

static void scan_body(void *ctx, int64_t d, int worker) {
    (void)worker;
    const ScanJob *job = ctx;
    if (job->wide)
        scan_doc_32(job, d);
    else
        scan_doc_16(job, d);
}

/* scan(cp, offsets, flags, packed, verdict, status, counts, threads): per text its status bits and
 * letter counts, written into status (uint8, n) and counts (int64, (n, 4)). */
static PyObject *py_scan(PyObject *self, PyObject *args) {
    PyObject *o_cp, *o_offs, *o_flags, *o_packed, *o_verdict, *o_status, *o_counts;
    int threads;
    if (!PyArg_ParseTuple(args, "OOOOOOOi", &o_cp, &o_offs, &o_flags, &o_packed, &o_verdict, &o_status, &o_counts,
                          &threads))
        return NULL;
    Arr cp = {0}, offs = {0}, flags = {0}, packed = {0}, verdict = {0}, status = {0}, counts = {0};
    PyObject *result = NULL;
    Py_buffer probe;
    if (PyObject_GetBuffer(o_cp, &probe, PyBUF_C_CONTIGUOUS) < 0) return NULL;
    Py_ssize_t itemsize = probe.itemsize;
    PyBuffer_Release(&probe);
    if (arr_get(o_cp, &cp, 'u', itemsize == 2 ? 2 : 4, 0, "code points") ||
        arr_get(o_offs, &offs, 'i', 8, 0, "offsets") || arr_get(o_flags, &flags, 'u', 1, 0, "flags") ||
        arr_get(o_packed, &packed, 'u', 8, 0, "packed") || arr_get(o_verdict, &verdict, 'u', 1, 0, "verdict") ||
        arr_get(o_status, &status, 'u', 1, 1, "status") || arr_get(o_counts, &counts, 'i', 8, 1, "counts"))
        goto done;
    int64_t n = ARR_LEN(offs) - 1;
    if (ARR_LEN(flags) != 0x10000 || ARR_LEN(packed) != 0x10000 || ARR_LEN(verdict) != 0x1000 ||
        ARR_LEN(status) != n || ARR_LEN(counts) != 4 * n) {
        PyErr_SetString(PyExc_ValueError, "scan: bad tables or output sizes");
        goto done;
    }
    ScanJob job = {cp.view.buf, offs.view.buf, flags.view.buf, verdict.view.buf, packed.view.buf, status.view.buf,
                   counts.view.buf, cp.view.itemsize == 4};
    Py_BEGIN_ALLOW_THREADS
    parallel_for(n, threads, scan_body, &job);
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    arr_release(&cp), arr_release(&offs), arr_release(&flags), arr_release(&packed), arr_release(&verdict);
    arr_release(&status), arr_release(&counts);
    return result;
}

/* signatures(ids, offsets, size, multipliers, a, b, out): out[t] becomes the MinHash of text t's
 * shingles, text t's syllable hashes being ids[offsets[t]:offsets[t + 1]]. Per shingle: the wrapped
 * sum of its syllables' hashes times the position multipliers, its upper 32 bits, datasketch's
 * fmix32, then a * h + b mod 2**32 per permutation; the minimum over the shingles (out holds the
 * starting values). A text shorter than size is one shingle. */
static PyObject *py_signatures(PyObject *self, PyObject *args) {
    PyObject *o_ids, *o_offs, *o_mult, *o_a, *o_b, *o_out;
    long long size;
    if (!PyArg_ParseTuple(args, "OOLOOOO", &o_ids, &o_offs, &size, &o_mult, &o_a, &o_b, &o_out)) return NULL;
    Arr ids = {0}, offs = {0}, mult = {0}, pa = {0}, pb = {0}, out = {0};
    PyObject *result = NULL;
    if (arr_get(o_ids, &ids, 'u', 8, 0, "ids") || arr_get(o_offs, &offs, 'i', 8, 0, "offsets") ||
        arr_get(o_mult, &mult, 'u', 8, 0, "multipliers") || arr_get(o_a, &pa, 'u', 8, 0, "a") ||
        arr_get(o_b, &pb, 'u', 8, 0, "b") || arr_get(o_out, &out, 'u', 4, 1, "out"))
        goto done;
    int64_t n = ARR_LEN(offs) - 1, n_perm = ARR_LEN(pa);
    if (ARR_LEN(pb) != n_perm || ARR_LEN(out) != n * n_perm || size < 1 || size > ARR_LEN(mult)) {
        PyErr_SetString(PyExc_ValueError, "signatures: bad sizes");
        goto done;
    }
    const uint64_t *id = ids.view.buf, *m = mult.view.buf, *a = pa.view.buf, *b = pb.view.buf;
    const int64_t *off = offs.view.buf;
    uint32_t *o = out.view.buf;
    const uint64_t mask = 0xFFFFFFFFULL;
    Py_BEGIN_ALLOW_THREADS
    for (int64_t t = 0; t < n; t++) {
        int64_t start = off[t], end = off[t + 1], width = end - start < size ? end - start : size;
        if (width == 0) continue;
        uint32_t *row = o + t * n_perm;
        for (int64_t i = start; i <= end - width; i++) {
            uint64_t combined = 0;
            for (int64_t j = 0; j < width; j++) combined += id[i + j] * m[j];
            uint64_t h = combined >> 32;
            h ^= h >> 16;
            h = (h * 0x85EBCA6BULL) & mask;
            h ^= h >> 13;
            h = (h * 0xC2B2AE35ULL) & mask;
            h ^= h >> 16;
            for (int64_t k = 0; k < n_perm; k++) {
                uint32_t value = (uint32_t)((a[k] * h + b[k]) & mask);
                if (value < row[k]) row[k] = value;
            }
        }
    }
    Py_END_ALLOW_THREADS
    result = Py_NewRef(Py_None);
done:
    arr_release(&ids), arr_release(&offs), arr_release(&mult), arr_release(&pa), arr_release(&pb), arr_release(&out);
    return result;
}

static PyMethodDef methods[] = {
    {"scan", py_scan, METH_VARARGS, "scan(cp, offsets, flags, packed, verdict, status, counts, threads)"},
    {"signatures", py_signatures, METH_VARARGS, "signatures(ids, offsets, size, multipliers, a, b, out)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels", NULL, -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) {
    if (common_init() < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m && (PyModule_AddIntConstant(m, "LANE", LANE) || PyModule_AddIntConstant(m, "FLUSH", FLUSH) ||
              PyModule_AddIntConstant(m, "SPACE", SPACE) || PyModule_AddIntConstant(m, "NEWLINE", NEWLINE) ||
              PyModule_AddIntConstant(m, "UNKNOWN", UNKNOWN) || PyModule_AddIntConstant(m, "NFC_UNSAFE", NFC_UNSAFE) ||
              PyModule_AddIntConstant(m, "LESS_THAN", LESS_THAN) || PyModule_AddIntConstant(m, "DIRTY", DIRTY) ||
              PyModule_AddIntConstant(m, "MAYBE_NOT_NFC", MAYBE_NOT_NFC) ||
              PyModule_AddIntConstant(m, "HAS_UNKNOWN", HAS_UNKNOWN) ||
              PyModule_AddIntConstant(m, "HAS_LESS_THAN", HAS_LESS_THAN))) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
