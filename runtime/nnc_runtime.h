/* nnc runtime: what every library written by `nnc compile --target llvm` is built from.
 *
 * An instance owns all its memory: the held tensors (parameters, state, optimiser slots, the step counter
 * and the random key), a second buffer for each tensor a call updates (an update is committed by swapping
 * the two when every loss is finite, as the in-process executable does), and the arena of intermediates.
 * Nothing is global but the per-thread message of a failed create, so two threads with two instances are
 * safe. An inference entry may have a prepare entry (work on the parameters alone, hoisted out of the call:
 * folded batchnorm filters): the instance holds its outputs, the derived inputs, and runs it before the
 * first call after create, load or set (lazily); it uses the instance's arena between calls. The compiled
 * code itself (the entry points `nnc_PREFIX_run`, `nnc_prepare_PREFIX`) is the LLVM backend's; threads, if
 * any, come from the thread pool compiled into that code (pthreads), not from this runtime.
 *
 * Internal header: the public API of a library is its generated NAME.h. */
#ifndef NNC_RUNTIME_H
#define NNC_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifndef NNC_STATUS_CODES
#define NNC_STATUS_CODES
enum {
    NNC_OK = 0,
    NNC_E_NULL = 1,        /* a null pointer where a value is needed */
    NNC_E_BATCH = 2,       /* a batch size outside 1..the instance's maximum (or not the compiled one) */
    NNC_E_NAME = 3,        /* no tensor of that name */
    NNC_E_SIZE = 4,        /* a byte count that is not the tensor's */
    NNC_E_IO = 5,          /* a file that cannot be opened, read or written */
    NNC_E_FORMAT = 6,      /* not an nnc weights file (not safetensors, damaged header, unknown dtype) */
    NNC_E_TRUNCATED = 7,   /* a weights file shorter than its header says */
    NNC_E_VERSION = 8,     /* a weights file of a newer format than this library reads */
    NNC_E_MODEL = 9,       /* a weights file written for another model (names, dtypes or shapes differ) */
    NNC_E_CHECKSUM = 10,   /* the tensor data does not match the file's checksum (corrupted) */
    NNC_E_MEMORY = 11,     /* out of memory */
    NNC_E_CHECK = 12,      /* a run-time check of the model failed (e.g. an embedding id out of range) */
    NNC_E_NOT_FINITE = 13, /* built with --checked: a layer produced a NaN or an infinity */
    NNC_E_LOSS = 14        /* a loss is NaN or infinite: the step's update was not committed */
};
#endif

/* NNC_ROLE_DERIVED: an input the prepare entry computes from the parameters (nnc/passes/hoist.py), held by
   the instance but never named (get/set) nor stored (load/save) */
enum { NNC_ROLE_DATA, NNC_ROLE_PARAM, NNC_ROLE_STATE, NNC_ROLE_SLOT, NNC_ROLE_STEP, NNC_ROLE_KEY,
       NNC_ROLE_REPORT, NNC_ROLE_DERIVED };
enum { NNC_F32, NNC_F64, NNC_I32, NNC_I64, NNC_BOOL };

typedef struct {
    const char *name;               /* the stable name (lenet5/features.conv2d/weight) */
    int role, dtype, rank;
    const int64_t *dims;            /* the sizes; 0 where `batched` */
    const unsigned char *batched;   /* 1: this axis is the batch */
    int replaces;                   /* outputs: the input this value replaces after a committed call, or -1 */
    int loss;                       /* outputs: must be finite for the call's updates to be committed */
} nnc_port;

typedef struct {
    int64_t first, last;            /* the kernels that write it first and touch it last (-1: unused) */
    int64_t bytes[4];               /* its bytes at batch B: bytes[0] + bytes[1]·B + bytes[2]·B² + bytes[3]·B³ */
} nnc_scratch;

typedef struct nnc_entry {
    const char *prefix, *kind, *name, *symbol, *source;
    int n_in, n_out;
    const nnc_port *in, *out;
    void (*run)(void **args);
    int64_t fixed_batch;            /* > 0: the code is compiled for this batch only; 0: any batch */
    int64_t arena_bytes;            /* fixed_batch > 0: the arena at that batch */
    int n_scratch;                  /* fixed_batch == 0: the buffers of the arena, planned at create */
    const nnc_scratch *scratch;
    int n_messages, n_checks;       /* messages[0 .. n_checks): checks of values (embedding ids); after
                                       them: --checked, a layer produced a NaN or an infinity */
    const char *const *messages;    /* status k > 0 after a run: messages[k - 1] */
    int n_kernels;
    const unsigned char *weights;   /* compiled-in weights (--embed-weights), or NULL */
    const unsigned char *weights_end;
    int64_t seed;
    /* inference with hoisting: the entry computing the derived inputs from the parameters (its inputs: data
       ports read from this entry's input slots prepare_in[k]; its outputs: reports written into the
       derived slots prepare_out[k]), run before a call when the parameters changed; else NULL */
    const struct nnc_entry *prepare;
    const int *prepare_in, *prepare_out;
} nnc_entry;

typedef struct nnc_instance {
    const nnc_entry *e;
    int64_t max_batch;
    void **args;                    /* the entry point's argument slots */
    void **value;                   /* per input: the held buffer (NULL for data) */
    void **spare;                   /* per output: the second buffer of an update, or where an unreported
                                       output goes */
    void *arena;
    int borrowed;                   /* the arena is the caller's (create_in): not freed by destroy */
    int64_t arena_bytes;            /* as planned for max_batch */
    int64_t status;
    int64_t *cycles;
    int64_t symbols[1];
    int64_t *offsets;
    int stale;                      /* the parameters changed since the derived inputs were computed */
    void **prepare_args;            /* the prepare entry's argument slots (NULL without one) */
    int64_t *prepare_offsets;       /* its buffers' offsets in the (shared) arena */
    char error[1024];
} nnc_instance;

/* First fit by liveness (nnc/backends/llvm/plan.py): offsets per buffer, the arena's bytes. */
int64_t nnc_plan(const nnc_entry *e, int64_t batch, int64_t *offsets);
int nnc_create(const nnc_entry *e, int64_t max_batch, nnc_instance **out);
/* create with the caller's arena (64-byte aligned, at least nnc_arena_bytes(e, max_batch) bytes). */
int nnc_create_in(const nnc_entry *e, int64_t max_batch, void *arena, size_t arena_bytes, nnc_instance **out);
int64_t nnc_arena_bytes(const nnc_entry *e, int64_t max_batch);
void nnc_destroy(nnc_instance *m);
/* ins: one pointer per data input (in signature order); outs: one per report (NULL: not returned). */
int nnc_call(nnc_instance *m, int64_t batch, const void *const *ins, void *const *outs);
int nnc_get(nnc_instance *m, const char *name, void *dst, size_t nbytes);
int nnc_set(nnc_instance *m, const char *name, const void *src, size_t nbytes);
int nnc_load(nnc_instance *m, const char *path);
int nnc_load_bytes(nnc_instance *m, const unsigned char *data, uint64_t size, const char *what);
int nnc_save(nnc_instance *m, const char *path);
const char *nnc_last_error(const nnc_instance *m);
int64_t nnc_port_bytes(const nnc_port *p, int64_t batch);
int nnc_fail(nnc_instance *m, int code, const char *fmt, ...);
extern _Thread_local char nnc_thread_error[512];

#endif
