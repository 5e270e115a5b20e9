/*
 * complaint_triage._speedups: the featuriser's n-gram counting in C (optional accelerator).
 *
 * TextFeaturizer computes the same sparse TF-IDF matrix with numpy when this module is not
 * built (no C compiler at install time); tests check that both paths agree.  The module holds
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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ABI_VERSION 2

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

/* per-thread scratch: a count and a presence bit per feature column (all zero between uses) */
static _Thread_local uint32_t *tl_counts;
static _Thread_local uint64_t *tl_bits;
static _Thread_local size_t tl_cols;

static int scratch(size_t n_cols)
{
    if (tl_cols >= n_cols)
        return 0;
    free(tl_counts);
    free(tl_bits);
    tl_counts = (uint32_t *)calloc(n_cols, sizeof(uint32_t));
    tl_bits = (uint64_t *)calloc((n_cols + 63) / 64, sizeof(uint64_t));
    if (!tl_counts || !tl_bits) {
        free(tl_counts);
        free(tl_bits);
        tl_counts = NULL;
        tl_bits = NULL;
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
    for (int32_t w = cmin >> 6; w <= (cmax >> 6); w++) {
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

static PyMethodDef methods[] = {
    {"build_table", build_table, METH_VARARGS, "Open-addressing table of int64 n-gram keys to int32 columns."},
    {"featurize", featurize, METH_VARARGS, "Sparse TF-IDF rows of n-gram and signal features (see the module docs)."},
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
