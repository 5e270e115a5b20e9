/*
 * complaint_triage._speedups: the featuriser's n-gram counting and the evidence spans in C
 * (optional accelerator).
 *
 * TextFeaturizer computes the same sparse TF-IDF matrix with numpy, and explain the same spans
 * in Python, when this module is not built (no C compiler at install time); tests check that
 * both paths agree.  The module holds
 * no state: the Python side owns every table (as bytes or numpy arrays) and passes it in.
 *
 *   build_table(keys, cols) -> (slots: bytes, bits: int)
 *       An open-addressing hash table (linear probing, load factor <= 0.7, 2**bits slots of
 *       {int64 key, int32 column, int32 padding}) of int64 n-gram keys (all >= 1; 0 marks an
 *       empty slot) to int32 feature columns.
 *
 *   featurize(token_seqs, id_map, texts, char_lut,
 *             wslots, wbits, wbase, wlo, whi, wclosed,
 *             cslots, cbits, cbase, clo, chi, cclosed,
 *             idf, word_scale, char_scale, sublinear,
 *             sig_rows, sig_cols, sig_vals) -> (indptr, indices, data: bytearray)
 *       token_seqs[d] is a sequence of str; id_map[token] gives its symbol id (-1: leave the
 *       token out, 0: in no feature; a plain dict answers 0 for a missing token, a dict subclass
 *       is asked through __missing__).  texts[d] is the normalised text; char_lut (int32) maps a
 *       code point to its symbol id.  An n-gram of ids a b c has key (a*base + b)*base + c and
 *       is never formed across a 0.  `closed` says every feature longer than lo has its prefix
 *       one symbol shorter as a feature too (TextFeaturizer.fit keeps vocabularies so), so a
 *       missing n-gram ends the longer ones at that position.  Values are (1 + log tf) * idf
 *       (or tf * idf), L2-normalised per row and block to word_scale / char_scale; the signal
 *       triples (int64 rows and columns, float64 values, sorted by row then column) are added
 *       as given.  The result is a CSR matrix with sorted columns: int64 indptr, int32 indices,
 *       float32 data.
 *
 * The counting runs without the GIL; only reading the tokens and texts holds it.
 *
 *   evidence(...) -> [(k, start, end), ...]
 *       One message's evidence spans in its normalised text, computed exactly as
 *       explain._python_spans computes them (see the comment above the function).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ABI_VERSION 3

typedef struct {
    int64_t key; /* 0: empty */
    int32_t col;
    int32_t pad;
} slot;

static inline uint64_t slot_of(int64_t key, int bits)
{
    return ((uint64_t)key * 0x9E3779B97F4A7C15ULL) >> (64 - bits);
}

static inline int32_t probe(const slot *t, int bits, int64_t key)
{
    uint64_t mask = ((uint64_t)1 << bits) - 1;
    uint64_t s = slot_of(key, bits);
    for (;;) {
        int64_t k = t[s].key;
        if (k == key)
            return t[s].col;
        if (k == 0)
            return -1;
        s = (s + 1) & mask;
    }
}

static PyObject *build_table(PyObject *self, PyObject *args)
{
    Py_buffer kb, cb;
    PyObject *out = NULL, *tbytes = NULL;
    if (!PyArg_ParseTuple(args, "y*y*:build_table", &kb, &cb))
        return NULL;
    Py_ssize_t n = kb.len / 8;
    if (kb.len % 8 || cb.len != n * 4) {
        PyErr_SetString(PyExc_ValueError, "build_table needs int64 keys and int32 columns of the same length");
        goto done;
    }
    int bits = 3;
    while (((Py_ssize_t)1 << bits) * 7 < n * 10 + 7)
        bits++;
    if (bits > 40) {
        PyErr_SetString(PyExc_ValueError, "too many keys for one table");
        goto done;
    }
    Py_ssize_t cap = (Py_ssize_t)1 << bits;
    tbytes = PyBytes_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(slot));
    if (!tbytes)
        goto done;
    slot *t = (slot *)PyBytes_AS_STRING(tbytes);
    memset(t, 0, cap * sizeof(slot));
    const int64_t *keys = (const int64_t *)kb.buf;
    const int32_t *cols = (const int32_t *)cb.buf;
    uint64_t mask = (uint64_t)cap - 1;
    for (Py_ssize_t i = 0; i < n; i++) {
        int64_t k = keys[i];
        if (k <= 0 || cols[i] < 0) {
            PyErr_SetString(PyExc_ValueError, "n-gram keys must be positive and columns non-negative");
            goto done;
        }
        uint64_t s = slot_of(k, bits);
        while (t[s].key != 0) {
            if (t[s].key == k) {
                PyErr_SetString(PyExc_ValueError, "duplicate n-gram key");
                goto done;
            }
            s = (s + 1) & mask;
        }
        t[s].key = k;
        t[s].col = cols[i];
    }
    out = Py_BuildValue("(Oi)", tbytes, bits);
done:
    Py_XDECREF(tbytes);
    PyBuffer_Release(&kb);
    PyBuffer_Release(&cb);
    return out;
}

/* -- growable arrays ---------------------------------------------------------------------- */

typedef struct {
    void *p;
    size_t n, cap, size;
} vec;

static int vec_reserve(vec *v, size_t extra)
{
    if (v->n + extra <= v->cap)
        return 0;
    size_t cap = v->cap ? v->cap : 256;
    while (cap < v->n + extra)
        cap *= 2;
    void *p = realloc(v->p, cap * v->size);
    if (!p)
        return -1;
    v->p = p;
    v->cap = cap;
    return 0;
}

typedef struct {
    int32_t col;
    double val;
} entry;

/* per-thread scratch: a count and a presence bit per feature column, and a bit per non-zero
 * word of presence bits, so that a row's few hundred columns are found without scanning the
 * thousands of words between them (all zero between uses) */
static _Thread_local uint32_t *tl_counts;
static _Thread_local uint64_t *tl_bits;
static _Thread_local uint64_t *tl_words;
static _Thread_local size_t tl_cols;

static int scratch(size_t n_cols)
{
    if (tl_cols >= n_cols)
        return 0;
    free(tl_counts);
    free(tl_bits);
    free(tl_words);
    tl_counts = (uint32_t *)calloc(n_cols, sizeof(uint32_t));
    tl_bits = (uint64_t *)calloc((n_cols + 63) / 64, sizeof(uint64_t));
    tl_words = (uint64_t *)calloc(((n_cols + 63) / 64 + 63) / 64, sizeof(uint64_t));
    if (!tl_counts || !tl_bits || !tl_words) {
        free(tl_counts);
        free(tl_bits);
        free(tl_words);
        tl_counts = NULL;
        tl_bits = NULL;
        tl_words = NULL;
        tl_cols = 0;
        return -1;
    }
    tl_cols = n_cols;
    return 0;
}

/* Count the n-grams of one sequence of ids (0 = no feature) into the scratch arrays.  With
 * `closed` (every feature longer than lo has its one-shorter prefix as a feature) a miss ends
 * the n-grams at that position.  Returns -2 on a column outside [0, n_cols). */
static int ngram_counts(const int64_t *ids, Py_ssize_t m, int lo, int hi, int64_t base, const slot *t, int bits,
                        int closed, size_t n_cols, int32_t *cmin, int32_t *cmax)
{
    uint32_t *counts = tl_counts;
    uint64_t *present = tl_bits;
    int32_t lo_c = INT32_MAX, hi_c = -1;
    for (Py_ssize_t i = 0; i < m; i++) {
        int64_t key = 0;
        for (int n = 1; n <= hi && i + n - 1 < m; n++) {
            int64_t id = ids[i + n - 1];
            if (id == 0)
                break;
            key = key * base + id;
            if (n < lo)
                continue;
            int32_t c = probe(t, bits, key);
            if (c < 0) {
                if (closed)
                    break;
                continue;
            }
            if ((size_t)c >= n_cols)
                return -2;
            if (!counts[c]++) {
                present[c >> 6] |= (uint64_t)1 << (c & 63);
                tl_words[c >> 12] |= (uint64_t)1 << ((c >> 6) & 63);
                if (c < lo_c)
                    lo_c = c;
                if (c > hi_c)
                    hi_c = c;
            }
        }
    }
    *cmin = lo_c;
    *cmax = hi_c;
    return 0;
}

/* counted columns (ascending) -> (col, tf-idf value) entries scaled to L2 norm `scale`,
 * appended to out; the scratch arrays are left zero again */
static int block_values(int32_t cmin, int32_t cmax, const double *idf, int sublinear, double scale, vec *out,
                        size_t *first)
{
    *first = out->n;
    if (cmax < 0)
        return 0;
    uint32_t *counts = tl_counts;
    uint64_t *present = tl_bits;
    double ss = 0.0;
    for (int32_t g = cmin >> 12; g <= (cmax >> 12); g++) {
        uint64_t words = tl_words[g];
        tl_words[g] = 0;
        while (words) {
            int32_t w = (g << 6) + __builtin_ctzll(words);
            words &= words - 1;
            uint64_t word = present[w];
            present[w] = 0;
            while (word) {
                int32_t c = (w << 6) + __builtin_ctzll(word);
                word &= word - 1;
                uint32_t tf = counts[c];
                counts[c] = 0;
                double v = sublinear ? 1.0 + log((double)tf) : (double)tf;
                v = v * idf[c];
                ss += v * v;
                if (vec_reserve(out, 1) < 0)
                    return -1;
                entry *e = (entry *)out->p + out->n++;
                e->col = c;
                e->val = v;
            }
        }
    }
    double f = scale / sqrt(ss);
    entry *e = (entry *)out->p;
    for (size_t k = *first; k < out->n; k++)
        e[k].val *= f;
    return 0;
}

static PyObject *featurize(PyObject *self, PyObject *args)
{
    PyObject *token_seqs, *id_map, *texts;
    Py_buffer lut, wt, ct, idfb, srb, scb, svb;
    int wbits, wlo, whi, wclosed, cbits, clo, chi, cclosed, sublinear;
    long long wbase, cbase;
    double word_scale, char_scale;
    if (!PyArg_ParseTuple(args, "OOOy*y*iLiipy*iLiipy*ddpy*y*y*:featurize", &token_seqs, &id_map, &texts, &lut,
                          &wt, &wbits, &wbase, &wlo, &whi, &wclosed, &ct, &cbits, &cbase, &clo, &chi, &cclosed,
                          &idfb, &word_scale, &char_scale, &sublinear, &srb, &scb, &svb))
        return NULL;

    PyObject *result = NULL, *seqs = NULL, *txts = NULL;
    vec wids = {NULL, 0, 0, sizeof(int64_t)}, cids = {NULL, 0, 0, sizeof(int64_t)};
    vec woff = {NULL, 0, 0, sizeof(size_t)}, coff = {NULL, 0, 0, sizeof(size_t)};
    vec ents = {NULL, 0, 0, sizeof(entry)};
    vec indices = {NULL, 0, 0, sizeof(int32_t)}, data = {NULL, 0, 0, sizeof(float)};
    int64_t *indptr = NULL;
    int failed = 0; /* 1: memory, 2: column out of range */

    Py_ssize_t n_lut = lut.len / 4, n_idf = idfb.len / 8, n_sig = srb.len / 8;
    if (wbits < 3 || wbits > 40 || cbits < 3 || cbits > 40) {
        PyErr_SetString(PyExc_ValueError, "featurize: table bits out of range");
        goto done;
    }
    if (lut.len % 4 || wt.len != ((Py_ssize_t)sizeof(slot) << wbits) || ct.len != ((Py_ssize_t)sizeof(slot) << cbits) ||
        idfb.len % 8 || scb.len != srb.len || svb.len != srb.len ||
        srb.len % 8 || wlo < 1 || whi < wlo || clo < 1 || chi < clo || wbase < 2 || cbase < 2) {
        PyErr_SetString(PyExc_ValueError, "featurize: inconsistent table or parameter");
        goto done;
    }
    seqs = PySequence_Fast(token_seqs, "token_seqs must be a sequence");
    txts = PySequence_Fast(texts, "texts must be a sequence");
    if (!seqs || !txts)
        goto done;
    Py_ssize_t n_docs = PySequence_Fast_GET_SIZE(txts);
    if (PySequence_Fast_GET_SIZE(seqs) != n_docs) {
        PyErr_SetString(PyExc_ValueError, "featurize: one token sequence per text is needed");
        goto done;
    }
    int exact_dict = PyDict_CheckExact(id_map);
    if (!PyDict_Check(id_map)) {
        PyErr_SetString(PyExc_TypeError, "featurize: id_map must be a dict");
        goto done;
    }
    const int32_t *lutp = (const int32_t *)lut.buf;

    /* phase 1 (GIL held): symbol ids of every document */
    for (Py_ssize_t d = 0; d < n_docs; d++) {
        PyObject *toks = PySequence_Fast(PySequence_Fast_GET_ITEM(seqs, d), "each token sequence must be a sequence");
        if (!toks)
            goto done;
        Py_ssize_t nt = PySequence_Fast_GET_SIZE(toks);
        if (vec_reserve(&wids, (size_t)nt) < 0 || vec_reserve(&woff, 1) < 0) {
            Py_DECREF(toks);
            PyErr_NoMemory();
            goto done;
        }
        ((size_t *)woff.p)[woff.n++] = wids.n;
        for (Py_ssize_t i = 0; i < nt; i++) {
            PyObject *t = PySequence_Fast_GET_ITEM(toks, i);
            PyObject *v = PyDict_GetItemWithError(id_map, t); /* borrowed */
            long long id = 0;
            if (v) {
                id = PyLong_AsLongLong(v);
            } else if (PyErr_Occurred()) {
                Py_DECREF(toks);
                goto done;
            } else if (!exact_dict) {
                PyObject *w = PyObject_GetItem(id_map, t); /* __missing__ */
                if (!w) {
                    if (!PyErr_ExceptionMatches(PyExc_KeyError)) {
                        Py_DECREF(toks);
                        goto done;
                    }
                    PyErr_Clear();
                } else {
                    id = PyLong_AsLongLong(w);
                    Py_DECREF(w);
                }
            }
            if (id == -1 && PyErr_Occurred()) {
                Py_DECREF(toks);
                goto done;
            }
            if (id < 0)
                continue;
            if (id >= wbase) {
                Py_DECREF(toks);
                PyErr_SetString(PyExc_ValueError, "featurize: a token id is not below the word base");
                goto done;
            }
            ((int64_t *)wids.p)[wids.n++] = id;
        }
        Py_DECREF(toks);

        PyObject *s = PySequence_Fast_GET_ITEM(txts, d);
        if (!PyUnicode_Check(s)) {
            PyErr_Format(PyExc_TypeError, "text at position %zd is not a str", d);
            goto done;
        }
        if (PyUnicode_READY(s) < 0)
            goto done;
        Py_ssize_t L = PyUnicode_GET_LENGTH(s);
        int kind = PyUnicode_KIND(s);
        const void *u = PyUnicode_DATA(s);
        if (vec_reserve(&cids, (size_t)L) < 0 || vec_reserve(&coff, 1) < 0) {
            PyErr_NoMemory();
            goto done;
        }
        ((size_t *)coff.p)[coff.n++] = cids.n;
        int64_t *cp = (int64_t *)cids.p + cids.n;
        for (Py_ssize_t i = 0; i < L; i++) {
            Py_UCS4 ch = PyUnicode_READ(kind, u, i);
            int64_t id = (Py_ssize_t)ch < n_lut ? lutp[ch] : 0;
            if (id < 0 || id >= cbase) {
                PyErr_SetString(PyExc_ValueError, "featurize: a character id is not below the character base");
                goto done;
            }
            cp[i] = id;
        }
        cids.n += (size_t)L;
    }
    if (vec_reserve(&woff, 1) < 0 || vec_reserve(&coff, 1) < 0) {
        PyErr_NoMemory();
        goto done;
    }
    ((size_t *)woff.p)[n_docs] = wids.n;
    ((size_t *)coff.p)[n_docs] = cids.n;
    indptr = (int64_t *)malloc(sizeof(int64_t) * (size_t)(n_docs + 1));
    if (!indptr || scratch((size_t)n_idf) < 0) {
        PyErr_NoMemory();
        goto done;
    }

    /* phase 2 (GIL released): n-grams, counts, TF-IDF, rows */
    Py_BEGIN_ALLOW_THREADS
    const int64_t *srows = (const int64_t *)srb.buf, *scols = (const int64_t *)scb.buf;
    const double *svals = (const double *)svb.buf, *idf = (const double *)idfb.buf;
    Py_ssize_t si = 0;
    indptr[0] = 0;
    for (Py_ssize_t d = 0; d < n_docs && !failed; d++) {
        size_t w0 = ((size_t *)woff.p)[d], w1 = ((size_t *)woff.p)[d + 1];
        size_t c0 = ((size_t *)coff.p)[d], c1 = ((size_t *)coff.p)[d + 1];
        size_t wf, cf;
        int32_t lo_c, hi_c;
        ents.n = 0;
        int r = ngram_counts((int64_t *)wids.p + w0, (Py_ssize_t)(w1 - w0), wlo, whi, wbase, (const slot *)wt.buf,
                             wbits, wclosed, (size_t)n_idf, &lo_c, &hi_c);
        if (!r)
            r = block_values(lo_c, hi_c, idf, sublinear, word_scale, &ents, &wf);
        if (!r)
            r = ngram_counts((int64_t *)cids.p + c0, (Py_ssize_t)(c1 - c0), clo, chi, cbase, (const slot *)ct.buf,
                             cbits, cclosed, (size_t)n_idf, &lo_c, &hi_c);
        if (!r)
            r = block_values(lo_c, hi_c, idf, sublinear, char_scale, &ents, &cf);
        if (r) {
            failed = r == -1 ? 1 : 2;
            break;
        }
        /* signals of this row */
        while (si < n_sig && srows[si] < d)
            si++;
        Py_ssize_t s0 = si;
        while (si < n_sig && srows[si] == d)
            si++;
        size_t nw = cf - wf, nc = ents.n - cf, ns = (size_t)(si - s0);
        if (vec_reserve(&indices, nw + nc + ns) < 0 || vec_reserve(&data, nw + nc + ns) < 0) {
            failed = 1;
            break;
        }
        const entry *e = (const entry *)ents.p;
        int32_t *oi = (int32_t *)indices.p + indices.n;
        float *ov = (float *)data.p + data.n;
        size_t a = wf, b = cf, s = (size_t)s0, k = 0;
        /* three-way merge by column (the blocks never share a column) */
        while (a < cf || b < ents.n || s < (size_t)si) {
            int64_t ca = a < cf ? e[a].col : INT64_MAX;
            int64_t cb2 = b < ents.n ? e[b].col : INT64_MAX;
            int64_t cs = s < (size_t)si ? scols[s] : INT64_MAX;
            if (ca <= cb2 && ca <= cs) {
                oi[k] = (int32_t)ca;
                ov[k++] = (float)e[a++].val;
            } else if (cb2 <= cs) {
                oi[k] = (int32_t)cb2;
                ov[k++] = (float)e[b++].val;
            } else {
                if (cs < 0 || cs >= n_idf) {
                    failed = 2;
                    break;
                }
                oi[k] = (int32_t)cs;
                ov[k++] = (float)svals[s++];
            }
        }
        indices.n += k;
        data.n += k;
        indptr[d + 1] = (int64_t)indices.n;
    }
    Py_END_ALLOW_THREADS

    if (failed) { /* the scratch arrays may hold counts of the failed row */
        memset(tl_counts, 0, tl_cols * sizeof(uint32_t));
        memset(tl_bits, 0, (tl_cols + 63) / 64 * sizeof(uint64_t));
        memset(tl_words, 0, ((tl_cols + 63) / 64 + 63) / 64 * sizeof(uint64_t));
    }
    if (failed == 1) {
        PyErr_NoMemory();
        goto done;
    }
    if (failed == 2) {
        PyErr_SetString(PyExc_ValueError, "featurize: a feature column is outside the idf vector");
        goto done;
    }
    {
        /* bytearrays, so that numpy views of them are writable */
        PyObject *a = PyByteArray_FromStringAndSize((const char *)indptr, (Py_ssize_t)(sizeof(int64_t) * (size_t)(n_docs + 1)));
        PyObject *b = a ? PyByteArray_FromStringAndSize((const char *)indices.p, (Py_ssize_t)(indices.n * sizeof(int32_t))) : NULL;
        PyObject *c = b ? PyByteArray_FromStringAndSize((const char *)data.p, (Py_ssize_t)(data.n * sizeof(float))) : NULL;
        if (c)
            result = PyTuple_Pack(3, a, b, c);
        Py_XDECREF(a);
        Py_XDECREF(b);
        Py_XDECREF(c);
    }
done:
    Py_XDECREF(seqs);
    Py_XDECREF(txts);
    free(wids.p);
    free(cids.p);
    free(woff.p);
    free(coff.p);
    free(ents.p);
    free(indices.p);
    free(data.p);
    free(indptr);
    PyBuffer_Release(&lut);
    PyBuffer_Release(&wt);
    PyBuffer_Release(&ct);
    PyBuffer_Release(&idfb);
    PyBuffer_Release(&srb);
    PyBuffer_Release(&scb);
    PyBuffer_Release(&svb);
    return result;
}

/* -- evidence spans ----------------------------------------------------------------------- */

typedef struct {
    int32_t a, b;
    double c;
} piece;

typedef struct {
    int32_t a, b;
    double c;
    int32_t p0, p1; /* the sorted pieces it was merged from */
} merged_span;

typedef struct {
    int32_t col;
    int32_t first, count; /* its occurrences in the occurrence array */
} located;

static int piece_cmp(const void *x, const void *y)
{
    const piece *p = (const piece *)x, *q = (const piece *)y;
    if (p->a != q->a)
        return p->a < q->a ? -1 : 1;
    if (p->b != q->b)
        return p->b < q->b ? -1 : 1;
    if (p->c != q->c)
        return p->c < q->c ? -1 : 1;
    return 0;
}

static int int32_cmp(const void *x, const void *y)
{
    int32_t p = *(const int32_t *)x, q = *(const int32_t *)y;
    return p < q ? -1 : p > q;
}

/* explain._trim: shrink [*a, *b) by dropping edge stretches with less than `keep` x the best
 * support (sum of contribution / length of the covering pieces), summed in piece order */
static int trim_span(int32_t *a, int32_t *b, const piece *ps, Py_ssize_t np, double keep)
{
    if (np == 1 && ps[0].a <= *a && *b <= ps[0].b && ps[0].c > 0)
        return 0;
    int32_t *bounds = (int32_t *)malloc(sizeof(int32_t) * (size_t)(2 * np + 2));
    double *score = (double *)calloc((size_t)(2 * np + 2), sizeof(double));
    if (!bounds || !score) {
        free(bounds);
        free(score);
        return -1;
    }
    Py_ssize_t nb = 0;
    bounds[nb++] = *a;
    bounds[nb++] = *b;
    for (Py_ssize_t k = 0; k < np; k++) {
        int32_t lo = ps[k].a > *a ? ps[k].a : *a, hi = ps[k].b < *b ? ps[k].b : *b;
        if (lo < hi) {
            bounds[nb++] = lo;
            bounds[nb++] = hi;
        }
    }
    qsort(bounds, (size_t)nb, sizeof(int32_t), int32_cmp);
    Py_ssize_t u = 0;
    for (Py_ssize_t k = 0; k < nb; k++)
        if (u == 0 || bounds[k] != bounds[u - 1])
            bounds[u++] = bounds[k];
    nb = u;
    for (Py_ssize_t k = 0; k < np; k++) {
        int32_t lo = ps[k].a > *a ? ps[k].a : *a, hi = ps[k].b < *b ? ps[k].b : *b;
        if (lo >= hi)
            continue;
        double share = ps[k].c / (double)(ps[k].b - ps[k].a);
        /* lo is one of the sorted, distinct bounds: found by bisection (a scan from the first
         * bound made a span of many pieces, a text repeating one phrase, quadratic) */
        Py_ssize_t i = 0, top = nb - 1;
        while (i < top) {
            Py_ssize_t mid = i + (top - i) / 2;
            if (bounds[mid] < lo)
                i = mid + 1;
            else
                top = mid;
        }
        for (; bounds[i] != hi; i++)
            score[i] += share;
    }
    if (nb >= 2) { /* (no stretch only for an empty span, which the Python path cannot trim either) */
        double best = score[0];
        for (Py_ssize_t i = 1; i < nb - 1; i++)
            if (score[i] > best)
                best = score[i];
        double cut = keep * best;
        Py_ssize_t first = -1, last = -1;
        for (Py_ssize_t i = 0; i < nb - 1; i++)
            if (score[i] >= cut) {
                if (first < 0)
                    first = i;
                last = i;
            }
        *a = bounds[first];
        *b = bounds[last + 1];
    }
    free(bounds);
    free(score);
    return 0;
}

static inline int is_clause_end(Py_UCS4 ch, int ekind, const void *edata, Py_ssize_t elen)
{
    for (Py_ssize_t i = 0; i < elen; i++)
        if (PyUnicode_READ(ekind, edata, i) == ch)
            return 1;
    return 0;
}

/* keys of the n-grams starting at each position of ids[0..len) (-1: the window holds a 0 or runs
 * past the end), into out[0..len) */
static void window_keys(const int64_t *ids, Py_ssize_t len, int n, int64_t base, int64_t *out)
{
    for (Py_ssize_t i = 0; i < len; i++) {
        int64_t k = 0;
        if (i + n > len) {
            out[i] = -1;
            continue;
        }
        for (int t = 0; t < n; t++) {
            if (ids[i + t] <= 0 || ids[i + t] >= base) { /* 0: in no feature */
                k = -1;
                break;
            }
            k = k * base + ids[i + t];
        }
        out[i] = k;
    }
}

#define MAX_N 8

/* text.find(s, pos) for a short s that is nearly always found at pos or just after it (the
 * segmenter's next surface): a plain scan, without str.find's conversion of s to text's kind */
static Py_ssize_t find_from(int tkind, const void *tdata, Py_ssize_t tlen, PyObject *s, Py_ssize_t slen,
                            Py_ssize_t pos)
{
    int skind = PyUnicode_KIND(s);
    const void *sdata = PyUnicode_DATA(s);
    if (slen == 0)
        return pos <= tlen ? pos : -1;
    Py_UCS4 first = PyUnicode_READ(skind, sdata, 0);
    for (Py_ssize_t at = pos; at + slen <= tlen; at++) {
        if (PyUnicode_READ(tkind, tdata, at) != first)
            continue;
        Py_ssize_t i = 1;
        while (i < slen && PyUnicode_READ(tkind, tdata, at + i) == PyUnicode_READ(skind, sdata, i))
            i++;
        if (i == slen)
            return at;
    }
    return -1;
}

/*
 * evidence(text, pieces, id_map, cols, vals, weights, weights_float32, n_features, cats,
 *          col_kind, col_key, col_n, wbase, char_lut, cbase, signal_spans,
 *          top_features, max_spans, keep, reach, clause_ends) -> list of (k, start, end)
 *
 * explain._python_spans in C, with the same arithmetic in the same order (so the same spans):
 * for each category cats[k] (a row of `weights`: float32 if weights_float32, else float64;
 * n_features columns), the
 * message's features (cols int32, vals float64) with the top_features largest positive
 * contributions weight * value (ties: the earlier column position first); their occurrences
 * in the normalised text (col_kind 1: a word n-gram of key col_key and length col_n over the
 * ids id_map gives `pieces`, the segmenter's surfaces, located in text in order; 2: a character
 * n-gram over char_lut ids; 3: signal_spans(col) -> [(start, end), ...]); the pieces merged,
 * the strongest max_spans trimmed (keep) and grown to their clause (reach, clause_ends), and
 * spans whose clauses meet joined.  Spans index the normalised text.
 */
static PyObject *evidence(PyObject *self, PyObject *args)
{
    PyObject *text, *pieces_obj, *id_map, *cats_obj, *signal_spans, *clause_ends;
    Py_buffer cb, vb, wb, kb, keyb, nb, lutb;
    Py_ssize_t n_features;
    long long wbase, cbase;
    int top, max_spans, reach, wfloat;
    double keep;
    if (!PyArg_ParseTuple(args, "UOOy*y*y*pnOy*y*y*Ly*LOiidiU:evidence", &text, &pieces_obj, &id_map, &cb, &vb, &wb,
                          &wfloat, &n_features, &cats_obj, &kb, &keyb, &nb, &wbase, &lutb, &cbase, &signal_spans, &top,
                          &max_spans, &keep, &reach, &clause_ends))
        return NULL;

    PyObject *result = NULL, *cats = NULL, *pseq = NULL;
    located *loc = NULL;
    vec occ = {NULL, 0, 0, 2 * sizeof(int32_t)};
    piece *ps = NULL;
    merged_span *ms = NULL;
    int32_t *spans = NULL;
    int64_t *wids = NULL, *cids = NULL;
    int32_t *wst = NULL, *wen = NULL;
    int32_t *tcol = NULL;
    double *tc = NULL;
    Py_ssize_t *tn = NULL;
    Py_ssize_t nw = -1, nc = -1; /* kept tokens / characters, once computed */
    int64_t *wkeys[MAX_N + 1] = {NULL}, *ckeys[MAX_N + 1] = {NULL};

    Py_ssize_t m = vb.len / (Py_ssize_t)sizeof(double);
    int wsize = wfloat ? 4 : 8;
    if (cb.len != m * 4 || vb.len % 8 || top < 1 || max_spans < 0 || n_features < 0 ||
        wb.len % ((Py_ssize_t)wsize * (n_features ? n_features : 1)) || kb.len != n_features ||
        keyb.len != n_features * 8 || nb.len != n_features || lutb.len % 4 || wbase < 1 || cbase < 1) {
        PyErr_SetString(PyExc_ValueError, "evidence: arrays of mismatched sizes or types");
        goto done;
    }
    cats = PySequence_Tuple(cats_obj); /* (a copy no callback can change under us) */
    if (!cats)
        goto done;
    Py_ssize_t ncat = PySequence_Fast_GET_SIZE(cats), nrows = n_features ? wb.len / wsize / n_features : 0;
    const int32_t *cols = (const int32_t *)cb.buf;
    const double *vals = (const double *)vb.buf;
    const int8_t *kind = (const int8_t *)kb.buf;
    const int64_t *ckey = (const int64_t *)keyb.buf;
    const int8_t *cn = (const int8_t *)nb.buf;
    const int32_t *lut = (const int32_t *)lutb.buf;
    Py_ssize_t lutlen = lutb.len / 4;
    int tkind = PyUnicode_KIND(text);
    const void *tdata = PyUnicode_DATA(text);
    Py_ssize_t tlen = PyUnicode_GET_LENGTH(text);
    int ekind = PyUnicode_KIND(clause_ends);
    const void *edata = PyUnicode_DATA(clause_ends);
    Py_ssize_t elen = PyUnicode_GET_LENGTH(clause_ends);
    for (Py_ssize_t p = 0; p < m; p++)
        if (cols[p] < 0 || cols[p] >= n_features) {
            PyErr_SetString(PyExc_ValueError, "evidence: a feature column is outside the weights");
            goto done;
        }

    if (top > m) /* never more top entries than the row has columns */
        top = m > 0 ? (int)m : 1;
    tcol = (int32_t *)malloc(sizeof(int32_t) * (size_t)(ncat * top + 1));
    tc = (double *)malloc(sizeof(double) * (size_t)(ncat * top + 1));
    tn = (Py_ssize_t *)calloc((size_t)ncat + 1, sizeof(Py_ssize_t));
    loc = (located *)malloc(sizeof(located) * (size_t)(ncat * top + 1));
    result = PyList_New(0);
    if (!tcol || !tc || !tn || !loc || !result) {
        PyErr_NoMemory();
        goto fail;
    }
    /* 1. per category, the strongest positive contributions, strongest first */
    for (Py_ssize_t k = 0; k < ncat; k++) {
        Py_ssize_t r = PyLong_AsSsize_t(PySequence_Fast_GET_ITEM(cats, k));
        if (r == -1 && PyErr_Occurred())
            goto fail;
        if (r < 0 || r >= nrows) {
            PyErr_SetString(PyExc_ValueError, "evidence: a category row is outside the weights");
            goto fail;
        }
        int32_t *bc = tcol + k * top;
        double *bv = tc + k * top;
        Py_ssize_t cnt = 0;
        for (Py_ssize_t p = 0; p < m; p++) {
            double w = wsize == 4 ? (double)((const float *)wb.buf)[r * n_features + cols[p]]
                                  : ((const double *)wb.buf)[r * n_features + cols[p]];
            double c = w * vals[p];
            if (!(c > 0) || (cnt == top && !(c > bv[cnt - 1])))
                continue;
            Py_ssize_t at = cnt < top ? cnt : top - 1;
            while (at > 0 && bv[at - 1] < c) { /* equal contributions keep the earlier position first */
                bv[at] = bv[at - 1];
                bc[at] = bc[at - 1];
                at--;
            }
            bv[at] = c;
            bc[at] = cols[p];
            if (cnt < top)
                cnt++;
        }
        tn[k] = cnt;
    }

    /* 2. occurrences of every wanted column */
    Py_ssize_t nloc = 0;
    for (Py_ssize_t k = 0; k < ncat; k++) {
        for (Py_ssize_t t = 0; t < tn[k]; t++) {
            int32_t j = tcol[k * top + t];
            Py_ssize_t q = 0;
            while (q < nloc && loc[q].col != j)
                q++;
            if (q < nloc)
                continue;
            located *L = &loc[nloc++];
            L->col = j;
            L->first = (int32_t)occ.n;
            L->count = 0;
            int kd = kind[j], n = cn[j];
            if ((kd == 1 || kd == 2) && (n < 1 || n > MAX_N))
                kd = 0;
            if (kd == 1 && nw < 0) { /* the kept tokens' ids and offsets */
                pseq = PySequence_Tuple(pieces_obj); /* (a copy no callback can change under us) */
                if (!pseq)
                    goto fail;
                Py_ssize_t np_ = PySequence_Fast_GET_SIZE(pseq);
                wids = (int64_t *)malloc(sizeof(int64_t) * (size_t)(np_ + 1));
                wst = (int32_t *)malloc(sizeof(int32_t) * (size_t)(np_ + 1));
                wen = (int32_t *)malloc(sizeof(int32_t) * (size_t)(np_ + 1));
                if (!wids || !wst || !wen) {
                    PyErr_NoMemory();
                    goto fail;
                }
                int is_dict = PyDict_Check(id_map), exact = PyDict_CheckExact(id_map);
                Py_ssize_t pos = 0;
                nw = 0;
                for (Py_ssize_t i = 0; i < np_; i++) {
                    PyObject *s = PySequence_Fast_GET_ITEM(pseq, i);
                    if (!PyUnicode_Check(s)) {
                        PyErr_SetString(PyExc_TypeError, "evidence: pieces must be str");
                        goto fail;
                    }
                    long long id = 0;
                    PyObject *v = is_dict ? PyDict_GetItemWithError(id_map, s) : NULL; /* borrowed */
                    if (v) {
                        id = PyLong_AsLongLong(v);
                    } else if (PyErr_Occurred()) {
                        goto fail;
                    } else if (!exact) {
                        PyObject *w = PyObject_GetItem(id_map, s); /* __missing__ */
                        if (!w) {
                            if (!PyErr_ExceptionMatches(PyExc_KeyError))
                                goto fail;
                            PyErr_Clear();
                        } else {
                            id = PyLong_AsLongLong(w);
                            Py_DECREF(w);
                        }
                    }
                    if (id == -1 && PyErr_Occurred())
                        goto fail;
                    Py_ssize_t slen = PyUnicode_GET_LENGTH(s);
                    Py_ssize_t start = find_from(tkind, tdata, tlen, s, slen, pos); /* text.find(s, pos) */
                    if (start < 0)
                        continue;
                    pos = start + slen;
                    if (id < 0)
                        continue; /* a dropped part of speech */
                    wids[nw] = id;
                    wst[nw] = (int32_t)start;
                    wen[nw] = (int32_t)pos;
                    nw++;
                }
            }
            if (kd == 2 && nc < 0) {
                cids = (int64_t *)malloc(sizeof(int64_t) * (size_t)(tlen + 1));
                if (!cids) {
                    PyErr_NoMemory();
                    goto fail;
                }
                for (Py_ssize_t i = 0; i < tlen; i++) {
                    Py_UCS4 ch = PyUnicode_READ(tkind, tdata, i);
                    cids[i] = (Py_ssize_t)ch < lutlen ? lut[ch] : 0;
                }
                nc = tlen;
            }
            if (kd == 1 || kd == 2) {
                int64_t **cache = kd == 1 ? wkeys : ckeys;
                Py_ssize_t len = kd == 1 ? nw : nc;
                if (!cache[n]) {
                    cache[n] = (int64_t *)malloc(sizeof(int64_t) * (size_t)(len + 1));
                    if (!cache[n]) {
                        PyErr_NoMemory();
                        goto fail;
                    }
                    window_keys(kd == 1 ? wids : cids, len, n, kd == 1 ? wbase : cbase, cache[n]);
                }
                const int64_t *wk = cache[n];
                for (Py_ssize_t i = 0; i < len; i++) {
                    if (wk[i] != ckey[j])
                        continue;
                    if (vec_reserve(&occ, 1) < 0) {
                        PyErr_NoMemory();
                        goto fail;
                    }
                    int32_t *o = (int32_t *)occ.p + 2 * occ.n++;
                    o[0] = kd == 1 ? wst[i] : (int32_t)i;
                    o[1] = kd == 1 ? wen[i + n - 1] : (int32_t)(i + n);
                }
            } else if (kd == 3) {
                PyObject *found = PyObject_CallFunction(signal_spans, "i", (int)j);
                if (!found)
                    goto fail;
                PyObject *fs = PySequence_Tuple(found);
                Py_DECREF(found);
                if (!fs)
                    goto fail;
                for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fs); i++) {
                    Py_ssize_t sa, sb;
                    if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(fs, i), "nn:signal span", &sa, &sb) ||
                        vec_reserve(&occ, 1) < 0) {
                        if (!PyErr_Occurred())
                            PyErr_NoMemory();
                        Py_DECREF(fs);
                        goto fail;
                    }
                    if (sa < 0 || sb < sa || sb > tlen) {
                        PyErr_SetString(PyExc_ValueError, "evidence: a signal span is outside the text");
                        Py_DECREF(fs);
                        goto fail;
                    }
                    int32_t *o = (int32_t *)occ.p + 2 * occ.n++;
                    o[0] = (int32_t)sa;
                    o[1] = (int32_t)sb;
                }
                Py_DECREF(fs);
            }
            L->count = (int32_t)(occ.n - (size_t)L->first);
        }
    }

    /* 3. per category: pieces, merged, the strongest trimmed and grown to their clause.  A
     * category's pieces are the occurrences of its top entries, a column counted once per
     * entry (a row that lists a column twice gives it twice, as the Python path does). */
    size_t cap = 1;
    for (Py_ssize_t k = 0; k < ncat; k++) {
        size_t need = 1;
        for (Py_ssize_t t = 0; t < tn[k]; t++) {
            Py_ssize_t q = 0;
            while (loc[q].col != tcol[k * top + t])
                q++;
            need += (size_t)loc[q].count;
        }
        if (need > cap)
            cap = need;
    }
    if (max_spans > (Py_ssize_t)cap) /* never more spans than pieces */
        max_spans = (int)cap;
    ps = (piece *)malloc(sizeof(piece) * cap);
    ms = (merged_span *)malloc(sizeof(merged_span) * cap);
    spans = (int32_t *)malloc(sizeof(int32_t) * 2 * ((size_t)max_spans + 1));
    if (!ps || !ms || !spans) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t k = 0; k < ncat; k++) {
        Py_ssize_t np_ = 0;
        for (Py_ssize_t t = 0; t < tn[k]; t++) {
            int32_t j = tcol[k * top + t];
            Py_ssize_t q = 0;
            while (loc[q].col != j)
                q++;
            const int32_t *o = (const int32_t *)occ.p + 2 * (size_t)loc[q].first;
            for (int32_t i = 0; i < loc[q].count; i++) {
                ps[np_].a = o[2 * i];
                ps[np_].b = o[2 * i + 1];
                ps[np_].c = tc[k * top + t] / (double)loc[q].count;
                np_++;
            }
        }
        if (!np_)
            continue;
        qsort(ps, (size_t)np_, sizeof(piece), piece_cmp);
        Py_ssize_t nm = 0;
        for (Py_ssize_t i = 0; i < np_; i++) {
            if (nm && ps[i].a <= ms[nm - 1].b) {
                merged_span *g = &ms[nm - 1];
                if (ps[i].b > g->b)
                    g->b = ps[i].b;
                g->c += ps[i].c;
                g->p1 = (int32_t)(i + 1);
            } else {
                ms[nm].a = ps[i].a;
                ms[nm].b = ps[i].b;
                ms[nm].c = ps[i].c;
                ms[nm].p0 = (int32_t)i;
                ms[nm].p1 = (int32_t)(i + 1);
                nm++;
            }
        }
        for (Py_ssize_t i = 1; i < nm; i++) { /* stable: strongest first, ties in text order */
            merged_span x = ms[i];
            Py_ssize_t at = i;
            while (at > 0 && -ms[at - 1].c > -x.c) {
                ms[at] = ms[at - 1];
                at--;
            }
            ms[at] = x;
        }
        Py_ssize_t ns = 0;
        for (Py_ssize_t t = 0; t < nm && t < max_spans; t++) {
            int32_t a = ms[t].a, b = ms[t].b;
            if (trim_span(&a, &b, ps + ms[t].p0, ms[t].p1 - ms[t].p0, keep) < 0) {
                PyErr_NoMemory();
                goto fail;
            }
            int32_t lo = a, hi = b;
            while (lo > 0 && a - lo < reach && !is_clause_end(PyUnicode_READ(tkind, tdata, lo - 1), ekind, edata, elen))
                lo--;
            while (hi < tlen && hi - b < reach && !is_clause_end(PyUnicode_READ(tkind, tdata, hi), ekind, edata, elen))
                hi++;
            a = lo;
            b = hi;
            /* spans met by this one (tested against it as it is) become one, where the first was */
            Py_ssize_t first = -1, w = 0;
            int32_t ua = a, ub = b;
            for (Py_ssize_t i = 0; i < ns; i++) {
                int32_t sa = spans[2 * i], sb = spans[2 * i + 1];
                int hit = a <= sb && sa <= b;
                if (hit) {
                    ua = sa < ua ? sa : ua;
                    ub = sb > ub ? sb : ub;
                }
                if (hit && first >= 0)
                    continue; /* a later hit goes */
                if (hit)
                    first = w;
                spans[2 * w] = sa;
                spans[2 * w + 1] = sb;
                w++;
            }
            if (first < 0) {
                spans[2 * ns] = a;
                spans[2 * ns + 1] = b;
                ns++;
            } else {
                spans[2 * first] = ua;
                spans[2 * first + 1] = ub;
                ns = w;
            }
        }
        for (Py_ssize_t i = 0; i < ns; i++) {
            PyObject *tup = Py_BuildValue("(nii)", k, spans[2 * i], spans[2 * i + 1]);
            if (!tup || PyList_Append(result, tup) < 0) {
                Py_XDECREF(tup);
                goto fail;
            }
            Py_DECREF(tup);
        }
    }
    goto done;
fail:
    Py_CLEAR(result);
done:
    free(tn);
    for (int n = 0; n <= MAX_N; n++) {
        free(wkeys[n]);
        free(ckeys[n]);
    }
    Py_XDECREF(cats);
    Py_XDECREF(pseq);
    free(loc);
    free(occ.p);
    free(ps);
    free(ms);
    free(spans);
    free(wids);
    free(cids);
    free(wst);
    free(wen);
    free(tcol);
    free(tc);
    PyBuffer_Release(&cb);
    PyBuffer_Release(&vb);
    PyBuffer_Release(&wb);
    PyBuffer_Release(&kb);
    PyBuffer_Release(&keyb);
    PyBuffer_Release(&nb);
    PyBuffer_Release(&lutb);
    return result;
}

static PyMethodDef methods[] = {
    {"build_table", build_table, METH_VARARGS, "Open-addressing table of int64 n-gram keys to int32 columns."},
    {"featurize", featurize, METH_VARARGS, "Sparse TF-IDF rows of n-gram and signal features (see the module docs)."},
    {"evidence", evidence, METH_VARARGS, "Evidence spans of one message in its normalised text (see explain.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "complaint_triage._speedups",
    "The featuriser's n-gram counting in C (optional; the numpy path computes the same).", -1, methods,
};

PyMODINIT_FUNC PyInit__speedups(void)
{
    PyObject *m = PyModule_Create(&module);
    if (m && PyModule_AddIntConstant(m, "ABI_VERSION", ABI_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
