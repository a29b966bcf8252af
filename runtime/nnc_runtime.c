/* nnc runtime: instances, calls, parameters by name, error state. See nnc_runtime.h. */
#include "nnc_runtime.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 64

_Thread_local char nnc_thread_error[512];

static const int64_t DTYPE_BYTES[] = {4, 8, 4, 8, 1};

int nnc_fail(nnc_instance *m, int code, const char *fmt, ...) {
    char *buf = m ? m->error : nnc_thread_error;
    size_t size = m ? sizeof m->error : sizeof nnc_thread_error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return code;
}

const char *nnc_last_error(const nnc_instance *m) {
    if (m == NULL) return nnc_thread_error;
    return m->error;
}

int64_t nnc_port_bytes(const nnc_port *p, int64_t batch) {
    int64_t n = DTYPE_BYTES[p->dtype];
    for (int i = 0; i < p->rank; i++) n *= p->batched[i] ? batch : p->dims[i];
    return n;
}

static void *aligned(int64_t nbytes) {
    size_t size = (size_t)((nbytes + ALIGN - 1) / ALIGN * ALIGN);
    void *p = aligned_alloc(ALIGN, size ? size : ALIGN);
    if (p) memset(p, 0, size ? size : ALIGN);
    return p;
}

/* A buffer's aligned bytes at batch b; -1 when that does not fit in an int64 (an absurd max_batch). */
static int64_t scratch_bytes(const nnc_scratch *s, int64_t b) {
    int64_t n = s->bytes[3];
    for (int k = 2; k >= 0; k--)
        if (__builtin_mul_overflow(n, b, &n) || __builtin_add_overflow(n, s->bytes[k], &n)) return -1;
    if (n < 1) n = 1;
    if (n > INT64_MAX / 4) return -1;
    return (n + ALIGN - 1) / ALIGN * ALIGN;
}

int64_t nnc_plan(const nnc_entry *e, int64_t batch, int64_t *offsets) {
    int n = e->n_scratch;
    int *order = malloc(sizeof(int) * (size_t)(n + 1));
    int64_t *lo = malloc(sizeof(int64_t) * (size_t)(n + 1)), *hi = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (order == NULL || lo == NULL || hi == NULL) { free(order); free(lo); free(hi); return -1; }
    for (int j = 0; j < n; j++) order[j] = j;
    /* by first use, larger first (stable: insertion sort, as Python's sorted) */
    for (int a = 1; a < n; a++) {
        int j = order[a], k = a;
        int64_t fj = e->scratch[j].first, sj = scratch_bytes(&e->scratch[j], batch);
        while (k > 0) {
            int i = order[k - 1];
            int64_t fi = e->scratch[i].first, si = scratch_bytes(&e->scratch[i], batch);
            if (fi < fj || (fi == fj && si >= sj)) break;
            order[k] = i;
            k--;
        }
        order[k] = j;
    }
    int64_t top = 0;
    for (int j = 0; j < n; j++)
        if (scratch_bytes(&e->scratch[j], batch) < 0) { free(order); free(lo); free(hi); return -1; }
    for (int a = 0; a < n; a++) {
        int j = order[a];
        const nnc_scratch *s = &e->scratch[j];
        int64_t size = scratch_bytes(s, batch), offset = 0;
        /* the placed buffers live at the same time, by offset: first fit below them */
        int moved = 1;
        while (moved) {
            moved = 0;
            for (int b = 0; b < a; b++) {
                int i = order[b];
                const nnc_scratch *t = &e->scratch[i];
                if (t->last < s->first || s->last < t->first) continue;
                if (offset < hi[i] && lo[i] < offset + size) { offset = hi[i]; moved = 1; }
            }
        }
        if (offset > INT64_MAX / 2) { free(order); free(lo); free(hi); return -1; }
        offsets[j] = offset;
        lo[j] = offset;
        hi[j] = offset + size;
        if (offset + size > top) top = offset + size;
    }
    free(order); free(lo); free(hi);
    return top > ALIGN ? top : ALIGN;
}

/* The arena of the prepare entry (its sizes do not depend on the batch). */
static int64_t prepare_bytes(const nnc_entry *e, int64_t *offsets) {
    const nnc_entry *p = e->prepare;
    if (p == NULL) return 0;
    if (p->fixed_batch > 0) return p->arena_bytes;
    return nnc_plan(p, 1, offsets);
}

int64_t nnc_arena_bytes(const nnc_entry *e, int64_t max_batch) {
    if (max_batch < 1) return -1;
    int n_prep = e->prepare ? e->prepare->n_scratch : 0;
    int n_off = e->n_scratch > n_prep ? e->n_scratch : n_prep;
    int64_t *offsets = malloc(sizeof(int64_t) * (size_t)(n_off + 1));
    if (offsets == NULL) return -1;
    int64_t n = e->fixed_batch > 0 ? e->arena_bytes : nnc_plan(e, max_batch, offsets);
    int64_t p = prepare_bytes(e, offsets);
    free(offsets);
    if (n < 0 || p < 0) return -1;
    return n > p ? n : p;  /* the prepare step runs between calls: the same arena serves both */
}

void nnc_destroy(nnc_instance *m) {
    if (m == NULL) return;
    const nnc_entry *e = m->e;
    if (m->value)
        for (int i = 0; i < e->n_in; i++) free(m->value[i]);
    if (m->spare)
        for (int j = 0; j < e->n_out; j++) free(m->spare[j]);
    free(m->value);
    free(m->spare);
    free(m->args);
    if (!m->borrowed) free(m->arena);
    free(m->cycles);
    free(m->offsets);
    free(m->prepare_args);
    free(m->prepare_offsets);
    free(m);
}

int nnc_create(const nnc_entry *e, int64_t max_batch, nnc_instance **out) {
    return nnc_create_in(e, max_batch, NULL, 0, out);
}

int nnc_create_in(const nnc_entry *e, int64_t max_batch, void *arena, size_t arena_bytes, nnc_instance **out) {
    if (out == NULL) return nnc_fail(NULL, NNC_E_NULL, "%s_create: the instance pointer is NULL", e->prefix);
    *out = NULL;
    if (max_batch < 1)
        return nnc_fail(NULL, NNC_E_BATCH, "%s_create: the maximum batch size must be at least 1, not %lld",
                        e->prefix, (long long)max_batch);
    if (max_batch > INT32_MAX)
        return nnc_fail(NULL, NNC_E_BATCH, "%s_create: a maximum batch size of %lld is more than this library "
                        "plans for (at most %d)", e->prefix, (long long)max_batch, INT32_MAX);
    if (e->fixed_batch > 0 && max_batch != e->fixed_batch)
        return nnc_fail(NULL, NNC_E_BATCH, "%s_create: this library is compiled for batch %lld only, "
                        "not a maximum of %lld (recompile with nnc compile --batch %lld)", e->prefix,
                        (long long)e->fixed_batch, (long long)max_batch, (long long)max_batch);
    if (arena != NULL) {
        int64_t need = nnc_arena_bytes(e, max_batch);
        if ((uintptr_t)arena % ALIGN != 0)
            return nnc_fail(NULL, NNC_E_SIZE, "%s_create_in: the arena must be %d-byte aligned", e->prefix, ALIGN);
        if (need < 0 || (uint64_t)arena_bytes < (uint64_t)need)
            return nnc_fail(NULL, NNC_E_SIZE, "%s_create_in: an arena of %llu bytes is too small: batches of %lld "
                            "need %lld (%s_arena_bytes)", e->prefix, (unsigned long long)arena_bytes,
                            (long long)max_batch, (long long)need, e->prefix);
    }
    nnc_instance *m = calloc(1, sizeof *m);
    if (m == NULL) return nnc_fail(NULL, NNC_E_MEMORY, "%s_create: out of memory", e->prefix);
    m->e = e;
    m->max_batch = max_batch;
    int n_args = e->n_in + e->n_out;
    m->args = calloc((size_t)n_args + 5, sizeof(void *));
    m->value = calloc((size_t)e->n_in + 1, sizeof(void *));
    m->spare = calloc((size_t)e->n_out + 1, sizeof(void *));
    const nnc_entry *pe = e->prepare;
    int n_kernels = pe && pe->n_kernels > e->n_kernels ? pe->n_kernels : e->n_kernels;
    m->cycles = calloc((size_t)n_kernels + 1, sizeof(int64_t));
    m->offsets = calloc((size_t)e->n_scratch + 1, sizeof(int64_t));
    m->arena_bytes = e->fixed_batch > 0 ? e->arena_bytes : (m->offsets ? nnc_plan(e, max_batch, m->offsets) : -1);
    int prep_ok = 1;
    if (pe != NULL) {
        m->prepare_args = calloc((size_t)(pe->n_in + pe->n_out) + 5, sizeof(void *));
        m->prepare_offsets = calloc((size_t)pe->n_scratch + 1, sizeof(int64_t));
        int64_t pb = m->prepare_offsets ? prepare_bytes(e, m->prepare_offsets) : -1;
        prep_ok = m->prepare_args && m->prepare_offsets && pb >= 0;
        if (pb < 0 || m->arena_bytes < 0) m->arena_bytes = -1;
        else if (pb > m->arena_bytes) m->arena_bytes = pb;
    }
    m->borrowed = arena != NULL;
    m->arena = m->borrowed ? arena : m->arena_bytes >= 0 ? aligned(m->arena_bytes) : NULL;
    int ok = m->args && m->value && m->spare && m->cycles && m->offsets && m->arena && prep_ok;
    for (int i = 0; ok && i < e->n_in; i++)
        if (e->in[i].role != NNC_ROLE_DATA) ok = (m->value[i] = aligned(nnc_port_bytes(&e->in[i], 1))) != NULL;
    for (int j = 0; ok && j < e->n_out; j++) {
        const nnc_port *p = &e->out[j];
        if (p->replaces >= 0) ok = (m->spare[j] = aligned(nnc_port_bytes(p, 1))) != NULL;
        else ok = (m->spare[j] = aligned(nnc_port_bytes(p, max_batch))) != NULL;  /* unreported outputs */
    }
    if (!ok) {
        int64_t arena = m->arena_bytes;
        nnc_destroy(m);
        if (arena < 0)
            return nnc_fail(NULL, NNC_E_MEMORY, "%s_create: no arena for batches of %lld items fits in memory",
                            e->prefix, (long long)max_batch);
        return nnc_fail(NULL, NNC_E_MEMORY, "%s_create: out of memory (%lld bytes of arena for batches of %lld)",
                        e->prefix, (long long)arena, (long long)max_batch);
    }
    for (int i = 0; i < e->n_in; i++)
        if (e->in[i].role == NNC_ROLE_KEY) *(int64_t *)m->value[i] = e->seed;
    m->args[n_args] = m->arena;
    m->args[n_args + 1] = &m->status;
    m->args[n_args + 2] = m->cycles;
    m->args[n_args + 3] = m->symbols;
    m->args[n_args + 4] = m->offsets;
    m->symbols[0] = max_batch;
    if (pe != NULL) {
        void **a = m->prepare_args;
        int pn = pe->n_in + pe->n_out;
        for (int k = 0; k < pe->n_in; k++) a[k] = m->value[e->prepare_in[k]];
        for (int k = 0; k < pe->n_out; k++) a[pe->n_in + k] = m->value[e->prepare_out[k]];
        a[pn] = m->arena;
        a[pn + 1] = &m->status;
        a[pn + 2] = m->cycles;
        a[pn + 3] = m->symbols;
        a[pn + 4] = m->prepare_offsets;
        m->stale = 1;  /* the derived inputs of the initial (zero or compiled-in) weights: before the first call */
    }
    if (e->weights != NULL) {
        int rc = nnc_load_bytes(m, e->weights, (uint64_t)(e->weights_end - e->weights), "the compiled-in weights");
        if (rc != NNC_OK) {
            nnc_fail(NULL, rc, "%s", m->error);
            nnc_destroy(m);
            return rc;
        }
    }
    *out = m;
    return NNC_OK;
}

/* A status k > 0 of an entry point as the call's code and message. */
static int failed(nnc_instance *m, const nnc_entry *e, int64_t k, const char *during) {
    const char *what = k >= 1 && k <= e->n_messages ? e->messages[k - 1] : "an unknown check failed";
    int code = k > e->n_checks ? NNC_E_NOT_FINITE : NNC_E_CHECK;
    return nnc_fail(m, code, "%s%s", during, what);
}

/* The derived inputs computed from the held parameters (the prepare entry), when they changed. Its input
   and output buffers are fixed held buffers (never swapped: an inference entry has no updates). */
static int run_prepare(nnc_instance *m) {
    const nnc_entry *pe = m->e->prepare;
    m->status = 0;
    pe->run(m->prepare_args);
    if (m->status != 0) {
        int64_t k = m->status;
        m->status = 0;
        return failed(m, pe, k, "computing the tensors derived from the parameters: ");
    }
    m->stale = 0;
    return NNC_OK;
}

static int finite(const nnc_port *p, const void *v) {
    if (p->dtype == NNC_F32) return isfinite(*(const float *)v);
    if (p->dtype == NNC_F64) return isfinite(*(const double *)v);
    return 1;
}

int nnc_call(nnc_instance *m, int64_t batch, const void *const *ins, void *const *outs) {
    const nnc_entry *e = m->e;
    if (batch < 1 || batch > m->max_batch)
        return nnc_fail(m, NNC_E_BATCH, "batch %lld is outside 1..%lld (the maximum this instance was "
                        "created with)", (long long)batch, (long long)m->max_batch);
    if (e->fixed_batch > 0 && batch != e->fixed_batch)
        return nnc_fail(m, NNC_E_BATCH, "batch %lld: this library is compiled for batch %lld only",
                        (long long)batch, (long long)e->fixed_batch);
    if (m->stale && e->prepare != NULL) {
        int rc = run_prepare(m);
        if (rc != NNC_OK) return rc;
    }
    int n_args = e->n_in + e->n_out;
    int data = 0, report = 0;
    for (int i = 0; i < e->n_in; i++) {
        if (e->in[i].role == NNC_ROLE_DATA) {
            const void *p = ins ? ins[data] : NULL;
            if (p == NULL) return nnc_fail(m, NNC_E_NULL, "the input %s is NULL", e->in[i].name);
            m->args[i] = (void *)p;
            data++;
        } else {
            m->args[i] = m->value[i];
        }
    }
    for (int j = 0; j < e->n_out; j++) {
        const nnc_port *p = &e->out[j];
        void *where = m->spare[j];
        if (p->role == NNC_ROLE_REPORT) {
            if (outs && outs[report]) where = outs[report];
            report++;
        }
        m->args[e->n_in + j] = where;
    }
    m->symbols[0] = batch;
    m->status = 0;
    e->run(m->args);
    if (m->status != 0) {
        int64_t k = m->status;
        m->status = 0;
        return failed(m, e, k, "");
    }
    for (int j = 0; j < e->n_out; j++) {
        const nnc_port *p = &e->out[j];
        if (p->loss && !finite(p, m->args[e->n_in + j])) {
            double v = p->dtype == NNC_F32 ? *(float *)m->args[e->n_in + j] : *(double *)m->args[e->n_in + j];
            return nnc_fail(m, NNC_E_LOSS, "the loss %s is %g: the update of this step was not committed",
                            p->name, v);
        }
    }
    for (int j = 0; j < e->n_out; j++) {
        int r = e->out[j].replaces;
        if (r >= 0) {
            void *t = m->value[r];
            m->value[r] = m->spare[j];
            m->spare[j] = t;
        }
    }
    (void)n_args;
    return NNC_OK;
}

static int find(nnc_instance *m, const char *name) {
    if (name == NULL) return -1;
    for (int i = 0; i < m->e->n_in; i++)
        if (m->e->in[i].role != NNC_ROLE_DATA && m->e->in[i].role != NNC_ROLE_DERIVED
            && strcmp(m->e->in[i].name, name) == 0) return i;
    return -1;
}

static int access_check(nnc_instance *m, const char *name, const void *buf, size_t nbytes, int *slot) {
    if (name == NULL) return nnc_fail(m, NNC_E_NULL, "the tensor name is NULL");
    if (buf == NULL) return nnc_fail(m, NNC_E_NULL, "the buffer for %s is NULL", name);
    *slot = find(m, name);
    if (*slot < 0) return nnc_fail(m, NNC_E_NAME, "no tensor named %s in %s %s", name, m->e->kind, m->e->name);
    int64_t want = nnc_port_bytes(&m->e->in[*slot], 1);
    if ((int64_t)nbytes != want)
        return nnc_fail(m, NNC_E_SIZE, "%s holds %lld bytes, not %llu", name, (long long)want,
                        (unsigned long long)nbytes);
    return NNC_OK;
}

int nnc_get(nnc_instance *m, const char *name, void *dst, size_t nbytes) {
    int slot, rc = access_check(m, name, dst, nbytes, &slot);
    if (rc == NNC_OK) memcpy(dst, m->value[slot], nbytes);
    return rc;
}

int nnc_set(nnc_instance *m, const char *name, const void *src, size_t nbytes) {
    int slot, rc = access_check(m, name, src, nbytes, &slot);
    if (rc == NNC_OK) {
        memcpy(m->value[slot], src, nbytes);
        m->stale = 1;  /* the derived inputs, if any, are recomputed before the next call */
    }
    return rc;
}
