/* nnc runtime: weights and training state as safetensors files in nnc's checkpoint format 1
 * (docs/checkpoints.md: params/NAME, state/NAME, optim/NAME; metadata "nnc.format" and "nnc"), with one
 * more metadata entry, "nnc.crc32": the CRC-32 (zlib's) of the tensor data, so a corrupted file is refused.
 * A checkpoint written by `nnc train` (no checksum) loads too; one written here loads in Python
 * (nnc.train.checkpoint.load_checkpoint, Trainer.load).
 *
 * Loading checks everything before it changes anything: a file that is truncated, not safetensors, of a
 * newer format, corrupted, or written for another model leaves the instance as it was. */
#define _POSIX_C_SOURCE 200809L
#include "nnc_runtime.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FORMAT_VERSION 1
#define NAME_MAX_LEN 512

static const char *ST_DTYPE[] = {"F32", "F64", "I32", "I64", "BOOL"};
static const char *SECTION[] = {"", "params/", "state/", "optim/"};

/* -- CRC-32 (the polynomial of zlib and PNG) ------------------------------------------------------- */
static uint32_t table[256];

static void make_table(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
}

static uint32_t crc32_of(const unsigned char *p, uint64_t n) {
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, make_table);
    uint32_t c = 0xFFFFFFFFu;
    for (uint64_t i = 0; i < n; i++) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* -- a small JSON reader for the safetensors header ------------------------------------------------- */
typedef struct { const char *s; size_t n, i; } reader;

static void ws(reader *r) {
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\n' || r->s[r->i] == '\t' || r->s[r->i] == '\r'))
        r->i++;
}

static int lit(reader *r, char c) {
    ws(r);
    if (r->i < r->n && r->s[r->i] == c) { r->i++; return 1; }
    return 0;
}

/* A string into out (truncated to cap - 1; *long_ set when it did not fit); 0 on a syntax error. */
static int str(reader *r, char *out, size_t cap, int *long_) {
    size_t k = 0;
    if (!lit(r, '"')) return 0;
    while (r->i < r->n) {
        char c = r->s[r->i++];
        if (c == '"') { if (out) out[k < cap ? k : cap - 1] = 0; return 1; }
        if (c == '\\') {
            if (r->i >= r->n) return 0;
            char d = r->s[r->i++];
            if (d == 'u') { if (r->i + 4 > r->n) return 0; r->i += 4; c = '?'; }
            else c = d == 'n' ? '\n' : d == 't' ? '\t' : d == 'r' ? '\r' : d == 'b' ? '\b' : d == 'f' ? '\f' : d;
        }
        if (out && k + 1 < cap) out[k] = c;
        else if (long_) *long_ = 1;
        k++;
    }
    return 0;
}

static int num(reader *r, int64_t *v) {
    ws(r);
    int neg = 0;
    if (r->i < r->n && r->s[r->i] == '-') { neg = 1; r->i++; }
    if (r->i >= r->n || r->s[r->i] < '0' || r->s[r->i] > '9') return 0;
    int64_t x = 0;
    while (r->i < r->n && r->s[r->i] >= '0' && r->s[r->i] <= '9') {
        if (x > (INT64_MAX - 9) / 10) return 0;
        x = x * 10 + (r->s[r->i++] - '0');
    }
    *v = neg ? -x : x;
    return 1;
}

static int skip(reader *r, int depth) {
    ws(r);
    if (depth > 64 || r->i >= r->n) return 0;
    char c = r->s[r->i];
    if (c == '"') return str(r, NULL, 0, NULL);
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        r->i++;
        if (lit(r, close)) return 1;
        do {
            if (c == '{' && !(str(r, NULL, 0, NULL) && lit(r, ':'))) return 0;
            if (!skip(r, depth + 1)) return 0;
        } while (lit(r, ','));
        return lit(r, close);
    }
    while (r->i < r->n && strchr(",}] \n\t\r", r->s[r->i]) == NULL) r->i++;  /* numbers, true, null ... */
    return 1;
}

/* Top-level integer fields "step" and "seed" of the "nnc" metadata (JSON in a string). */
static void meta_ints(const char *json, int64_t *step, int *has_step, int64_t *seed, int *has_seed) {
    reader r = {json, strlen(json), 0};
    char key[64];
    if (!lit(&r, '{') || lit(&r, '}')) return;
    do {
        int long_ = 0;
        if (!str(&r, key, sizeof key, &long_) || !lit(&r, ':')) return;
        int64_t v;
        size_t at = r.i;
        if (!long_ && strcmp(key, "step") == 0 && num(&r, &v)) { *step = v; *has_step = 1; continue; }
        if (!long_ && strcmp(key, "seed") == 0 && num(&r, &v)) { *seed = v; *has_seed = 1; continue; }
        r.i = at;
        if (!skip(&r, 0)) return;
    } while (lit(&r, ','));
}

typedef struct {
    char name[NAME_MAX_LEN];
    int dtype, rank;
    int64_t shape[8];
    int64_t begin, end;
    int used;
} record;

static int parse_record(reader *r, record *t) {
    char key[32];
    t->dtype = -1; t->rank = -1; t->begin = t->end = -1;
    if (!lit(r, '{')) return 0;
    if (lit(r, '}')) return 1;
    do {
        if (!str(r, key, sizeof key, NULL) || !lit(r, ':')) return 0;
        if (strcmp(key, "dtype") == 0) {
            char d[16];
            if (!str(r, d, sizeof d, NULL)) return 0;
            for (int k = 0; k < 5; k++) if (strcmp(d, ST_DTYPE[k]) == 0) t->dtype = k;
            if (t->dtype < 0) t->dtype = -2;  /* a dtype this library has no tensor of */
        } else if (strcmp(key, "shape") == 0) {
            t->rank = 0;
            if (!lit(r, '[')) return 0;
            if (!lit(r, ']')) {
                do {
                    if (t->rank >= 8 || !num(r, &t->shape[t->rank])) return 0;
                    t->rank++;
                } while (lit(r, ','));
                if (!lit(r, ']')) return 0;
            }
        } else if (strcmp(key, "data_offsets") == 0) {
            if (!(lit(r, '[') && num(r, &t->begin) && lit(r, ',') && num(r, &t->end) && lit(r, ']'))) return 0;
        } else if (!skip(r, 0)) {
            return 0;
        }
    } while (lit(r, ','));
    return lit(r, '}') && t->rank >= 0 && t->begin >= 0 && t->end >= t->begin && t->dtype != -1;
}

static int section_of(int role) {
    return role == NNC_ROLE_PARAM ? 1 : role == NNC_ROLE_STATE ? 2 : role == NNC_ROLE_SLOT ? 3 : 0;
}

int nnc_load_bytes(nnc_instance *m, const unsigned char *data, uint64_t size, const char *what) {
    const nnc_entry *e = m->e;
    if (size < 8)
        return nnc_fail(m, NNC_E_TRUNCATED, "%s is truncated: %llu bytes, not even a safetensors header", what,
                        (unsigned long long)size);
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | data[k];
    if (hlen > size - 8) {
        if (size > 8 && data[8] != '{')
            return nnc_fail(m, NNC_E_FORMAT, "%s is not a safetensors file", what);
        return nnc_fail(m, NNC_E_TRUNCATED, "%s is truncated: its header says %llu bytes, the file has %llu",
                        what, (unsigned long long)hlen, (unsigned long long)(size - 8));
    }
    if (hlen == 0 || data[8] != '{')
        return nnc_fail(m, NNC_E_FORMAT, "%s is not a safetensors file", what);
    reader r = {(const char *)data + 8, (size_t)hlen, 0};
    size_t cap = 16, n = 0;
    record *recs = malloc(cap * sizeof *recs);
    char key[NAME_MAX_LEN], mkey[64], version[32] = "", crc[32] = "";
    char *meta = NULL;
    int rc = NNC_OK;
    if (recs == NULL) return nnc_fail(m, NNC_E_MEMORY, "out of memory reading %s", what);
    if (!lit(&r, '{')) { rc = NNC_E_FORMAT; goto damaged; }
    if (!lit(&r, '}')) {
        do {
            int long_ = 0;
            if (!str(&r, key, sizeof key, &long_) || !lit(&r, ':') || long_) { rc = NNC_E_FORMAT; goto damaged; }
            if (strcmp(key, "__metadata__") == 0) {
                if (!lit(&r, '{')) { rc = NNC_E_FORMAT; goto damaged; }
                if (lit(&r, '}')) continue;
                do {
                    if (!str(&r, mkey, sizeof mkey, NULL) || !lit(&r, ':')) { rc = NNC_E_FORMAT; goto damaged; }
                    reader at = r;
                    if (strcmp(mkey, "nnc.format") == 0) { if (!str(&r, version, sizeof version, NULL)) break; }
                    else if (strcmp(mkey, "nnc.crc32") == 0) { if (!str(&r, crc, sizeof crc, NULL)) break; }
                    else if (strcmp(mkey, "nnc") == 0) {
                        size_t len = hlen;
                        free(meta);
                        meta = malloc(len + 1);
                        if (meta == NULL || !str(&r, meta, len + 1, NULL)) { rc = NNC_E_FORMAT; goto damaged; }
                    } else if (!skip(&r, 0)) { rc = NNC_E_FORMAT; goto damaged; }
                    (void)at;
                } while (lit(&r, ','));
                if (!lit(&r, '}')) { rc = NNC_E_FORMAT; goto damaged; }
                continue;
            }
            if (n == cap) {
                record *more = realloc(recs, 2 * cap * sizeof *recs);
                if (more == NULL) { rc = NNC_E_MEMORY; goto damaged; }
                recs = more;
                cap *= 2;
            }
            memset(&recs[n], 0, sizeof recs[n]);
            strcpy(recs[n].name, key);
            if (!parse_record(&r, &recs[n])) { rc = NNC_E_FORMAT; goto damaged; }
            n++;
        } while (lit(&r, ','));
        if (!lit(&r, '}')) { rc = NNC_E_FORMAT; goto damaged; }
    }
    const unsigned char *body = data + 8 + hlen;
    uint64_t body_size = size - 8 - hlen;
    for (size_t t = 0; t < n; t++)
        if ((uint64_t)recs[t].end > body_size) {
            rc = nnc_fail(m, NNC_E_TRUNCATED, "%s is truncated: %s ends at byte %lld of the data, which has %llu",
                          what, recs[t].name, (long long)recs[t].end, (unsigned long long)body_size);
            goto done;
        }
    if (meta == NULL || version[0] == 0) {
        rc = nnc_fail(m, NNC_E_FORMAT, "%s is a safetensors file without nnc metadata: not nnc weights", what);
        goto done;
    }
    char *end;
    long v = strtol(version, &end, 10);
    if (*end != 0 || end == version) {
        rc = nnc_fail(m, NNC_E_FORMAT, "%s: damaged nnc metadata: format version \"%s\"", what, version);
        goto done;
    }
    if (v != FORMAT_VERSION) {
        rc = nnc_fail(m, NNC_E_VERSION, "%s is of weights format %ld; this library reads format %d", what, v,
                      FORMAT_VERSION);
        goto done;
    }
    if (crc[0]) {
        uint32_t want = (uint32_t)strtoul(crc, NULL, 16), got = crc32_of(body, body_size);
        if (want != got) {
            rc = nnc_fail(m, NNC_E_CHECKSUM, "%s is corrupted: the CRC-32 of its data is %08x, the file says %s",
                          what, got, crc);
            goto done;
        }
    }
    int has_slots = 0;
    for (size_t t = 0; t < n; t++) {
        const char *name = recs[t].name;
        int sec = strncmp(name, "params/", 7) == 0 ? 1 : strncmp(name, "state/", 6) == 0 ? 2
                  : strncmp(name, "optim/", 6) == 0 ? 3 : 0;
        if (sec == 0) {
            rc = nnc_fail(m, NNC_E_FORMAT, "%s holds %s, outside params/, state/ and optim/: not nnc weights",
                          what, name);
            goto done;
        }
        if (sec == 3) has_slots = 1;
    }
    int train = strcmp(e->kind, "train") == 0;
    for (int i = 0; i < e->n_in; i++) {
        const nnc_port *p = &e->in[i];
        int sec = section_of(p->role);
        if (sec == 0 || (sec == 3 && !has_slots)) continue;
        char want[NAME_MAX_LEN];
        snprintf(want, sizeof want, "%s%s", SECTION[sec], p->name);
        record *hit = NULL;
        for (size_t t = 0; t < n; t++) if (strcmp(recs[t].name, want) == 0) hit = &recs[t];
        if (hit == NULL) {
            rc = nnc_fail(m, NNC_E_MODEL, "%s has no tensor %s: it was written for another model", what, want);
            goto done;
        }
        int same = hit->dtype == p->dtype && hit->rank == p->rank;
        for (int d = 0; same && d < p->rank; d++) same = hit->shape[d] == p->dims[d];
        if (!same || hit->end - hit->begin != nnc_port_bytes(p, 1)) {
            char shape[128] = "";
            for (int d = 0; d < hit->rank && strlen(shape) < 100; d++)
                snprintf(shape + strlen(shape), sizeof shape - strlen(shape), d ? ", %lld" : "%lld",
                         (long long)hit->shape[d]);
            rc = nnc_fail(m, NNC_E_MODEL, "%s holds %s as %s[%s]; this %s needs %s: written for another model",
                          what, want, hit->dtype >= 0 ? ST_DTYPE[hit->dtype] : "an unknown dtype", shape, e->kind,
                          ST_DTYPE[p->dtype]);
            goto done;
        }
        hit->used = 1;
    }
    for (size_t t = 0; t < n; t++)
        if (!recs[t].used && !(strncmp(recs[t].name, "optim/", 6) == 0 && !train)) {
            rc = nnc_fail(m, NNC_E_MODEL, "%s holds %s, which this %s does not have: written for another model",
                          what, recs[t].name, e->kind);
            goto done;
        }
    int64_t step = 0, seed = 0;
    int has_step = 0, has_seed = 0;
    meta_ints(meta, &step, &has_step, &seed, &has_seed);
    /* every check passed: now the instance changes */
    for (int i = 0; i < e->n_in; i++) {
        const nnc_port *p = &e->in[i];
        int sec = section_of(p->role);
        if (p->role == NNC_ROLE_STEP) *(int64_t *)m->value[i] = has_step ? step : 0;
        if (p->role == NNC_ROLE_KEY && has_seed) *(int64_t *)m->value[i] = seed;
        if (sec == 0) continue;
        if (sec == 3 && !has_slots) { memset(m->value[i], 0, (size_t)nnc_port_bytes(p, 1)); continue; }
        char want[NAME_MAX_LEN];
        snprintf(want, sizeof want, "%s%s", SECTION[sec], p->name);
        for (size_t t = 0; t < n; t++)
            if (strcmp(recs[t].name, want) == 0) memcpy(m->value[i], body + recs[t].begin, (size_t)(recs[t].end - recs[t].begin));
    }
    m->stale = 1;  /* the derived inputs, if any, are recomputed before the next call */
    goto done;
damaged:
    if (rc == NNC_E_MEMORY) nnc_fail(m, rc, "out of memory reading %s", what);
    else nnc_fail(m, rc, "%s is not a valid safetensors file: its header is damaged near byte %zu", what, r.i + 8);
done:
    free(recs);
    free(meta);
    return rc;
}

int nnc_load(nnc_instance *m, const char *path) {
    if (path == NULL) return nnc_fail(m, NNC_E_NULL, "the weights path is NULL");
    FILE *f = fopen(path, "rb");
    if (f == NULL) return nnc_fail(m, NNC_E_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char *data = NULL;
    size_t size = 0, cap = 0, got;
    do {
        if (size == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            unsigned char *more = realloc(data, cap);
            if (more == NULL) { free(data); fclose(f); return nnc_fail(m, NNC_E_MEMORY, "out of memory reading %s", path); }
            data = more;
        }
        got = fread(data + size, 1, cap - size, f);
        size += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) { free(data); return nnc_fail(m, NNC_E_IO, "cannot read %s", path); }
    int rc = nnc_load_bytes(m, data, size, path);
    free(data);
    return rc;
}

/* -- saving ------------------------------------------------------------------------------------------ */
typedef struct { char *s; size_t n, cap; int oom; } text;

static void put(text *t, const char *s, size_t len) {
    if (t->oom) return;
    if (t->n + len + 1 > t->cap) {
        size_t cap = (t->cap + len + 1) * 2;
        char *more = realloc(t->s, cap);
        if (more == NULL) { t->oom = 1; return; }
        t->s = more;
        t->cap = cap;
    }
    memcpy(t->s + t->n, s, len);
    t->n += len;
    t->s[t->n] = 0;
}

static void puts_(text *t, const char *s) { put(t, s, strlen(s)); }

static void put_json_string(text *t, const char *s) {
    puts_(t, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') put(t, "\\", 1);
        put(t, s, 1);
    }
    puts_(t, "\"");
}

static int by_key(const void *a, const void *b) {
    return strcmp(((const record *)a)->name, ((const record *)b)->name);
}

int nnc_save(nnc_instance *m, const char *path) {
    const nnc_entry *e = m->e;
    if (path == NULL) return nnc_fail(m, NNC_E_NULL, "the weights path is NULL");
    record *recs = calloc((size_t)e->n_in + 1, sizeof *recs);
    int *slot = calloc((size_t)e->n_in + 1, sizeof *slot);
    if (recs == NULL || slot == NULL) { free(recs); free(slot); return nnc_fail(m, NNC_E_MEMORY, "out of memory"); }
    int n = 0;
    int64_t step = 0, seed = e->seed;
    for (int i = 0; i < e->n_in; i++) {
        const nnc_port *p = &e->in[i];
        if (p->role == NNC_ROLE_STEP) step = *(int64_t *)m->value[i];
        if (p->role == NNC_ROLE_KEY) seed = *(int64_t *)m->value[i];
        int sec = section_of(p->role);
        if (sec == 0) continue;
        snprintf(recs[n].name, sizeof recs[n].name, "%s%s", SECTION[sec], p->name);
        recs[n].dtype = i;  /* the input slot, until sorted */
        n++;
    }
    qsort(recs, (size_t)n, sizeof *recs, by_key);
    int64_t offset = 0;
    for (int k = 0; k < n; k++) {
        int i = recs[k].dtype;
        slot[k] = i;
        recs[k].begin = offset;
        offset += nnc_port_bytes(&e->in[i], 1);
        recs[k].end = offset;
    }
    /* the data and its checksum first: the header holds it */
    unsigned char *body = malloc((size_t)offset + 1);
    if (body == NULL) { free(recs); free(slot); return nnc_fail(m, NNC_E_MEMORY, "out of memory"); }
    for (int k = 0; k < n; k++)
        memcpy(body + recs[k].begin, m->value[slot[k]], (size_t)(recs[k].end - recs[k].begin));
    char num[128];
    text meta = {0}, h = {0};
    puts_(&meta, "{\"");
    puts_(&meta, e->kind);
    puts_(&meta, "\": ");
    put_json_string(&meta, e->name);
    snprintf(num, sizeof num, ", \"seed\": %lld, \"step\": %lld, \"rng\": {\"generator\": \"philox4x32-10\", "
             "\"key\": %lld, \"counter\": %lld}, \"writer\": ", (long long)seed, (long long)step, (long long)seed,
             (long long)step);
    puts_(&meta, num);
    put_json_string(&meta, "nnc library");
    puts_(&meta, "}");
    puts_(&h, "{\"__metadata__\":{\"nnc\":");
    put_json_string(&h, meta.s ? meta.s : "{}");
    snprintf(num, sizeof num, ",\"nnc.crc32\":\"%08x\",\"nnc.format\":\"%d\"}", crc32_of(body, (uint64_t)offset),
             FORMAT_VERSION);
    puts_(&h, num);
    for (int k = 0; k < n; k++) {
        const nnc_port *p = &e->in[slot[k]];
        puts_(&h, ",");
        put_json_string(&h, recs[k].name);
        snprintf(num, sizeof num, ":{\"dtype\":\"%s\",\"shape\":[", ST_DTYPE[p->dtype]);
        puts_(&h, num);
        for (int d = 0; d < p->rank; d++) {
            snprintf(num, sizeof num, d ? ",%lld" : "%lld", (long long)p->dims[d]);
            puts_(&h, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%lld,%lld]}", (long long)recs[k].begin, (long long)recs[k].end);
        puts_(&h, num);
    }
    puts_(&h, "}");
    while (!h.oom && h.n % 8) puts_(&h, " ");
    int rc = NNC_OK;
    if (meta.oom || h.oom) { rc = nnc_fail(m, NNC_E_MEMORY, "out of memory"); goto done; }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (f == NULL) { rc = nnc_fail(m, NNC_E_IO, "cannot write %s: %s", tmp, strerror(errno)); goto done; }
    unsigned char len[8];
    for (int k = 0; k < 8; k++) len[k] = (unsigned char)((uint64_t)h.n >> (8 * k));
    int ok = fwrite(len, 1, 8, f) == 8 && fwrite(h.s, 1, h.n, f) == h.n
             && fwrite(body, 1, (size_t)offset, f) == (size_t)offset && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        rc = nnc_fail(m, NNC_E_IO, "cannot write %s: %s", path, strerror(errno));
        remove(tmp);
    }
done:
    free(meta.s);
    free(h.s);
    free(body);
    free(recs);
    free(slot);
    return rc;
}
