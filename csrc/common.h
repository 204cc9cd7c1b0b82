/* Shared by the compiled kernels of pipeline.text, pipeline.topic and pipeline.summarize.
 *
 * Arrays come in through the buffer protocol (numpy arrays, C-contiguous) and go out as numpy
 * arrays made by numpy.empty: the extensions need neither numpy's headers nor its ABI to build.
 * Kernels run with the GIL released; parallel loops use a few threads of their own
 * (parallel_for), so no OpenMP runtime is loaded. */
#ifndef VNNEWS_COMMON_H
#define VNNEWS_COMMON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* -- hashing: FNV-1a over code points, splitmix64 to spread the bits (pipeline/text/hashing.py) -- */
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static inline uint64_t splitmix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDULL;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 33);
}

/* -- arrays in ------------------------------------------------------------------------------- */
typedef struct {
    Py_buffer view;
    int held;
} Arr;

/* kind: 'u' unsigned, 'i' signed, 'f' float, '?' bool; itemsize in bytes. */
static inline int arr_get(PyObject *obj, Arr *a, char kind, Py_ssize_t itemsize, int writable, const char *name) {
    a->held = 0;
    if (PyObject_GetBuffer(obj, &a->view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    a->held = 1;
    const char *f = a->view.format ? a->view.format : "B";
    if (*f == '@' || *f == '=' || *f == '<' || *f == '|') f++;
    const char *kinds = kind == 'u' ? "BHILQN" : kind == 'i' ? "bhilqn" : kind == 'f' ? "efd" : "?";
    if (a->view.itemsize != itemsize || f[0] == '\0' || f[1] != '\0' || !strchr(kinds, f[0])) {
        PyErr_Format(PyExc_TypeError, "%s: expected a C-contiguous array of kind '%c' and %zd-byte items, got '%s'",
                     name, kind, itemsize, a->view.format ? a->view.format : "B");
        return -1;
    }
    return 0;
}

static inline void arr_release(Arr *a) {
    if (a->held) PyBuffer_Release(&a->view);
    a->held = 0;
}

#define ARR_LEN(a) ((a).view.len / (a).view.itemsize)
#define ARR_DIM(a, k) ((a).view.ndim > (k) ? (a).view.shape[k] : 1)

/* -- arrays out ------------------------------------------------------------------------------ */
static PyObject *np_empty_fn;

static int common_init(void) {
    PyObject *np = PyImport_ImportModule("numpy");
    if (!np) return -1;
    np_empty_fn = PyObject_GetAttrString(np, "empty");
    Py_DECREF(np);
    return np_empty_fn ? 0 : -1;
}

/* A new numpy array of the given shape (ndim 1 or 2) and dtype name, and its data pointer. */
static inline PyObject *new_array(int ndim, Py_ssize_t d0, Py_ssize_t d1, const char *dtype, void **data) {
    PyObject *arr = ndim == 1 ? PyObject_CallFunction(np_empty_fn, "(n)s", d0, dtype)
                              : PyObject_CallFunction(np_empty_fn, "(nn)s", d0, d1, dtype);
    if (!arr) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arr, &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0) {
        Py_DECREF(arr);
        return NULL;
    }
    *data = view.buf;
    PyBuffer_Release(&view);  /* (the array keeps its memory) */
    return arr;
}

/* -- scratch memory: a bump allocator that longjmps out on failure ---------------------------- */
typedef struct Block {
    struct Block *next;
    size_t cap, used;
    max_align_t data[];
} Block;

typedef struct {
    Block *head;
    jmp_buf *fail;  /* where to go when memory runs out (the kernel reports MemoryError) */
} Arena;

static inline void *arena_alloc(Arena *a, size_t bytes) {
    bytes = (bytes + 15) & ~(size_t)15;
    if (!a->head || a->head->used + bytes > a->head->cap) {
        size_t cap = bytes > ((size_t)1 << 20) ? bytes : ((size_t)1 << 20);
        Block *b = malloc(sizeof(Block) + cap);
        if (!b) longjmp(*a->fail, 1);
        b->next = a->head;
        b->cap = cap;
        b->used = 0;
        a->head = b;
    }
    void *p = (char *)a->head->data + a->head->used;
    a->head->used += bytes;
    return p;
}

static inline void *arena_zeros(Arena *a, size_t bytes) { return memset(arena_alloc(a, bytes), 0, bytes); }

/* Free everything but the newest block, which is emptied for reuse. */
static inline void arena_reset(Arena *a) {
    if (!a->head) return;
    Block *b = a->head->next;
    while (b) {
        Block *next = b->next;
        free(b);
        b = next;
    }
    a->head->next = NULL;
    a->head->used = 0;
}

static inline void arena_free(Arena *a) {
    while (a->head) {
        Block *next = a->head->next;
        free(a->head);
        a->head = next;
    }
}

#define NEW(arena, type, n) ((type *)arena_alloc((arena), sizeof(type) * (size_t)((n) > 0 ? (n) : 1)))
#define ZEROS(arena, type, n) ((type *)arena_zeros((arena), sizeof(type) * (size_t)((n) > 0 ? (n) : 1)))

/* A growable buffer of results (malloc'ed), appended to without the GIL. */
typedef struct {
    char *data;
    size_t len, cap;
} Vec;

static inline int vec_reserve(Vec *v, size_t bytes) {
    if (v->len + bytes <= v->cap) return 0;
    size_t cap = v->cap ? v->cap : 4096;
    while (cap < v->len + bytes) cap *= 2;
    char *data = realloc(v->data, cap);
    if (!data) return -1;
    v->data = data;
    v->cap = cap;
    return 0;
}

/* -- parallel loops -------------------------------------------------------------------------- */
/* body(ctx, i) for i in [0, n), on up to `threads` threads (the caller's included), each taking the
 * next index as it finishes one. The work of one index must not depend on another's. */
typedef void (*loop_body)(void *ctx, int64_t i, int worker);

typedef struct {
    loop_body body;
    void *ctx;
    int64_t n;
    int64_t next;  /* (atomic) */
    int worker;
} Loop;

typedef struct {
    Loop *loop;
    int worker;
} LoopArg;

static inline void *loop_worker(void *p) {
    LoopArg *arg = p;
    Loop *loop = arg->loop;
    for (;;) {
        int64_t i = __atomic_fetch_add(&loop->next, 1, __ATOMIC_RELAXED);
        if (i >= loop->n) break;
        loop->body(loop->ctx, i, arg->worker);
    }
    return NULL;
}

#define MAX_THREADS 256

static inline void parallel_for(int64_t n, int threads, loop_body body, void *ctx) {
    if (threads > MAX_THREADS) threads = MAX_THREADS;
    if (threads > n) threads = (int)n;
    if (threads < 1) threads = 1;
    Loop loop = {body, ctx, n, 0, 0};
    pthread_t ids[MAX_THREADS];
    LoopArg args[MAX_THREADS];
    int started = 0;
    for (int t = 1; t < threads; t++) {
        args[t].loop = &loop;
        args[t].worker = t;
        if (pthread_create(&ids[t], NULL, loop_worker, &args[t]) != 0) break;
        started = t;
    }
    args[0].loop = &loop;
    args[0].worker = 0;
    loop_worker(&args[0]);
    for (int t = 1; t <= started; t++) pthread_join(ids[t], NULL);
}

#endif
