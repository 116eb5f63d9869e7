/* Where the k smallest keys of each row are: the column half of the engine's selection; and
 * the weighted sums over each row's neighbours that the predictor makes of them.
 *
 * recommender/engine/_search.py selects the k smallest ranking keys of every row of a block.
 * numpy finds their *values* fast (np.partition and np.sort use SIMD sorting networks), but
 * their *columns*, in (key, column) order, took most of the selection's time: a mask of the
 * row, its nonzero positions, two gathers, an argsort of the selection and two more gathers
 * (1 us of the 1.6 us a row of 71 keys cost). Given each row's kept smallest values, sorted,
 * this finds their columns in one pass over the row: a key at or below the largest kept value
 * is placed by counting the kept values below it, equal keys in column order, which is the
 * engine's tie order (the lower training index first).
 *
 * Rows of more than a few hundred keys are first cut down (group_minima, compact): the
 * (k+1)-th smallest of the minima of groups of contiguous keys bounds the k+1 smallest keys,
 * and only the keys at or below it, in column order, go on to the selection above.
 *
 * The numpy path stays the reference this is tested against (tests/engine/
 * test_compiled_selection.py) and the fallback when this is not built. Arguments are numpy
 * arrays (the buffer protocol), checked here for shape, item size and C-contiguity; the loop
 * runs without the GIL, so the engine's worker threads run side by side.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The most values kept per row: the engine keeps k + 1 (k is max(k, ranking_k), tens). */
#define MAX_KEPT 4096

/* The buffer of a C-contiguous array of `ndim` dimensions, of doubles (kind 'f') or of 64-bit
 * integers (kind 'i'); anything else is a TypeError naming the argument. */
static int get_buffer(PyObject *obj, Py_buffer *view, int writable, char kind, int ndim,
                      const char *name) {
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0) {
        return -1;
    }
    const char *format = view->format ? view->format : "B";
    if (*format == '=' || *format == '<' || *format == '@') {
        format++;
    }
    int right_kind = kind == 'f' ? strcmp(format, "d") == 0
                                 : (strcmp(format, "l") == 0 || strcmp(format, "q") == 0);
    if (view->itemsize != 8 || !right_kind || view->ndim != ndim) {
        PyErr_Format(PyExc_TypeError, "%s: expected a %d-d array of %s", name, ndim,
                     kind == 'f' ? "float64" : "int64");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* One argument's buffer and what it must be (see get_buffer). */
typedef struct {
    PyObject *obj;
    Py_buffer *view;
    int writable;
    char kind;
    int ndim;
    const char *name;
} BufferSpec;

/* The buffers of every spec, in order; on a failure the ones taken are given back. */
static int get_buffers(const BufferSpec *specs, int count) {
    for (int i = 0; i < count; i++) {
        const BufferSpec *spec = &specs[i];
        if (get_buffer(spec->obj, spec->view, spec->writable, spec->kind, spec->ndim,
                       spec->name) < 0) {
            while (i-- > 0) {
                PyBuffer_Release(specs[i].view);
            }
            return -1;
        }
    }
    return 0;
}

static void release_buffers(const BufferSpec *specs, int count) {
    while (count-- > 0) {
        PyBuffer_Release(specs[count].view);
    }
}

/* Scratch space of one call: the candidates of a row and the slots of its kept values. */
typedef struct {
    double *cand;
    int64_t *cand_col;
    int64_t *slots;
    Py_ssize_t *taken;
} Scratch;

/* Columns of one row's `count` kept values into pos[0..k). The keys at or below the largest
 * kept value are gathered in column order (branch-free); each one's slot is the number of kept
 * values below it (a loop the compiler vectorises) plus the copies of it placed before, so
 * equal keys keep column order. Slots a NaN left unfilled stay 0 (the caller flags such rows,
 * see _search.py). Built twice, for AVX2 and for any x86-64, picked when the module loads. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void place_row(const double *row, Py_ssize_t n, const double *kept, Py_ssize_t count,
                      Py_ssize_t k, int64_t *pos, Scratch *s) {
    double largest = kept[count - 1];
    Py_ssize_t c = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        double x = row[j];
        s->cand[c] = x;
        s->cand_col[c] = j;
        c += x <= largest;
    }
    memset(s->taken, 0, (size_t)count * sizeof(Py_ssize_t));
    memset(s->slots, 0, (size_t)count * sizeof(int64_t));
    for (Py_ssize_t i = 0; i < c; i++) {
        double x = s->cand[i];
        Py_ssize_t run = 0;
        for (Py_ssize_t t = 0; t < count; t++) {
            run += kept[t] < x;
        }
        /* Only the largest kept value can have more copies in the row than were kept. */
        Py_ssize_t slot = run + s->taken[run];
        if (slot < count) {
            s->slots[slot] = s->cand_col[i];
            s->taken[run]++;
        }
    }
    memcpy(pos, s->slots, (size_t)k * sizeof(int64_t));
}

static PyObject *positions(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *keys_obj, *kept_obj, *pos_obj;
    Py_ssize_t k;
    if (!PyArg_ParseTuple(args, "OOnO", &keys_obj, &kept_obj, &k, &pos_obj)) {
        return NULL;
    }
    Py_buffer keys, kept, pos;
    const BufferSpec specs[] = {
        {keys_obj, &keys, 0, 'f', 2, "keys"},
        {kept_obj, &kept, 0, 'f', 2, "kept"},
        {pos_obj, &pos, 1, 'i', 2, "pos"},
    };
    if (get_buffers(specs, 3) < 0) {
        return NULL;
    }
    Py_ssize_t rows = keys.shape[0], n = keys.shape[1], count = kept.shape[1];
    Scratch s = {NULL, NULL, NULL, NULL};
    if (kept.shape[0] != rows || pos.shape[0] != rows || pos.shape[1] != k || k < 1 ||
        count < k || count > n || count > MAX_KEPT) {
        PyErr_Format(PyExc_ValueError,
                     "expected keys (rows, n), kept (rows, count), pos (rows, k) with "
                     "1 <= k <= count <= min(n, %d)",
                     MAX_KEPT);
        goto release;
    }
    s.cand = PyMem_RawMalloc((size_t)n * sizeof(double));
    s.cand_col = PyMem_RawMalloc((size_t)n * sizeof(int64_t));
    s.slots = PyMem_RawMalloc((size_t)count * sizeof(int64_t));
    s.taken = PyMem_RawMalloc((size_t)count * sizeof(Py_ssize_t));
    if (!s.cand || !s.cand_col || !s.slots || !s.taken) {
        PyErr_NoMemory();
        goto release;
    }
    const double *key_data = keys.buf, *kept_data = kept.buf;
    int64_t *pos_data = pos.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = 0; r < rows; r++) {
        place_row(key_data + r * n, n, kept_data + r * count, count, k, pos_data + r * k, &s);
    }
    Py_END_ALLOW_THREADS;

release:
    PyMem_RawFree(s.cand);
    PyMem_RawFree(s.cand_col);
    PyMem_RawFree(s.slots);
    PyMem_RawFree(s.taken);
    release_buffers(specs, 3);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* compact(keys, bound, cand, cand_col, count): the keys of each row at or below its bound,
 * in column order, into cand / cand_col (rows, width), the rest of the row padded with +inf
 * (column 0); count gets how many there were, which may exceed width (then only the first
 * width are written; the caller redoes such a row). Few keys pass a good bound, so the branch
 * is mostly predicted and only candidates are written. */
static Py_ssize_t compact_row(const double *row, Py_ssize_t n, double bound, double *cand,
                              int64_t *cand_col, Py_ssize_t width) {
    Py_ssize_t c = 0;
    for (Py_ssize_t j = 0; j < n; j++) {
        double x = row[j];
        if (x <= bound) {
            if (c < width) {
                cand[c] = x;
                cand_col[c] = j;
            }
            c++;
        }
    }
    for (Py_ssize_t i = c; i < width; i++) {
        cand[i] = INFINITY;
        cand_col[i] = 0;
    }
    return c;
}

/* group_minima(keys, g, out): the minimum of each group of g contiguous keys of each row into
 * out (rows, n // g); the n mod g last keys are in no group. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void minima_row(const double *row, Py_ssize_t groups, Py_ssize_t g, double *out) {
    for (Py_ssize_t b = 0; b < groups; b++) {
        const double *group = row + b * g;
        double m = group[0];
        for (Py_ssize_t t = 1; t < g; t++) {
            m = group[t] < m ? group[t] : m;
        }
        out[b] = m;
    }
}

static PyObject *group_minima(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *keys_obj, *out_obj;
    Py_ssize_t g;
    if (!PyArg_ParseTuple(args, "OnO", &keys_obj, &g, &out_obj)) {
        return NULL;
    }
    Py_buffer keys, out;
    const BufferSpec specs[] = {
        {keys_obj, &keys, 0, 'f', 2, "keys"},
        {out_obj, &out, 1, 'f', 2, "out"},
    };
    if (get_buffers(specs, 2) < 0) {
        return NULL;
    }
    Py_ssize_t rows = keys.shape[0], n = keys.shape[1];
    if (g < 1 || out.shape[0] != rows || out.shape[1] != n / g || n / g < 1) {
        PyErr_SetString(PyExc_ValueError, "expected keys (rows, n), 1 <= g <= n, out (rows, n // g)");
    } else {
        const double *key_data = keys.buf;
        double *out_data = out.buf;
        Py_ssize_t groups = n / g;
        Py_BEGIN_ALLOW_THREADS;
        for (Py_ssize_t r = 0; r < rows; r++) {
            minima_row(key_data + r * n, groups, g, out_data + r * groups);
        }
        Py_END_ALLOW_THREADS;
    }
    release_buffers(specs, 2);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *compact(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *keys_obj, *bound_obj, *cand_obj, *cand_col_obj, *count_obj;
    if (!PyArg_ParseTuple(args, "OOOOO", &keys_obj, &bound_obj, &cand_obj, &cand_col_obj,
                          &count_obj)) {
        return NULL;
    }
    Py_buffer keys, bound, cand, cand_col, count;
    const BufferSpec specs[] = {
        {keys_obj, &keys, 0, 'f', 2, "keys"},
        {bound_obj, &bound, 0, 'f', 1, "bound"},
        {cand_obj, &cand, 1, 'f', 2, "cand"},
        {cand_col_obj, &cand_col, 1, 'i', 2, "cand_col"},
        {count_obj, &count, 1, 'i', 1, "count"},
    };
    if (get_buffers(specs, 5) < 0) {
        return NULL;
    }
    Py_ssize_t rows = keys.shape[0], n = keys.shape[1], width = cand.shape[1];
    if (bound.shape[0] != rows || cand.shape[0] != rows || cand_col.shape[0] != rows ||
        cand_col.shape[1] != width || count.shape[0] != rows || width < 1) {
        PyErr_SetString(PyExc_ValueError,
                        "expected keys (rows, n), bound (rows,), cand and cand_col "
                        "(rows, width >= 1), count (rows,)");
        goto release;
    }
    const double *key_data = keys.buf, *bound_data = bound.buf;
    double *cand_data = cand.buf;
    int64_t *cand_col_data = cand_col.buf, *count_data = count.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = 0; r < rows; r++) {
        count_data[r] = compact_row(key_data + r * n, n, bound_data[r], cand_data + r * width,
                                    cand_col_data + r * width, width);
    }
    Py_END_ALLOW_THREADS;

release:
    release_buffers(specs, 5);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* weighted_sums(dist, rows, width, values, power, added, out): for each row r of dist (rows, w)
 * and rows (rows, w), over its first `width` neighbours j, the weight
 * s = max(1 - dist[r, j]^2 / 2, 0)^power + added (the cosine similarity of L2-normalised
 * rows; power 0: every weight 1) and out[r] = (sum of s, sum of s * values[rows[r, j]]). One
 * pass instead of the numpy path's ten over each block (powers, clips, sums, a gather, a dot
 * product), after the search, while the block is in cache (engine/predictor.py). A row
 * number outside values is an IndexError. */
static int weighted_row(const double *dist, const int64_t *rows, Py_ssize_t width,
                        const double *values, Py_ssize_t n_values, long power, double added,
                        double *out) {
    double total = 0.0, weighted = 0.0;
    for (Py_ssize_t j = 0; j < width; j++) {
        int64_t at = rows[j];
        if (at < 0 || at >= n_values) {
            return -1;
        }
        double s = 1.0;
        if (power > 0) {
            double cos = 1.0 - dist[j] * dist[j] / 2.0;
            cos = cos > 0.0 ? cos : 0.0;
            s = cos;
            for (long p = 1; p < power; p++) {
                s *= cos;
            }
        }
        s += added;
        total += s;
        weighted += s * values[at];
    }
    out[0] = total;
    out[1] = weighted;
    return 0;
}

static PyObject *weighted_sums(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *dist_obj, *rows_obj, *values_obj, *out_obj;
    Py_ssize_t width;
    long power;
    double added;
    if (!PyArg_ParseTuple(args, "OOnOldO", &dist_obj, &rows_obj, &width, &values_obj, &power,
                          &added, &out_obj)) {
        return NULL;
    }
    Py_buffer dist, rows, values, out;
    int bad_row = 0;
    const BufferSpec specs[] = {
        {dist_obj, &dist, 0, 'f', 2, "dist"},
        {rows_obj, &rows, 0, 'i', 2, "rows"},
        {values_obj, &values, 0, 'f', 1, "values"},
        {out_obj, &out, 1, 'f', 2, "out"},
    };
    if (get_buffers(specs, 4) < 0) {
        return NULL;
    }
    Py_ssize_t n_rows = dist.shape[0], w = dist.shape[1];
    if (rows.shape[0] != n_rows || rows.shape[1] != w || width < 0 || width > w ||
        out.shape[0] != n_rows || out.shape[1] != 2 || power < 0 || power > 8) {
        PyErr_SetString(PyExc_ValueError,
                        "expected dist and rows (rows, w), 0 <= width <= w, out (rows, 2), "
                        "0 <= power <= 8");
        goto release;
    }
    const double *dist_data = dist.buf, *value_data = values.buf;
    const int64_t *row_data = rows.buf;
    double *out_data = out.buf;
    Py_ssize_t n_values = values.shape[0];
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = 0; r < n_rows && !bad_row; r++) {
        bad_row = weighted_row(dist_data + r * w, row_data + r * w, width, value_data, n_values,
                               power, added, out_data + 2 * r) < 0;
    }
    Py_END_ALLOW_THREADS;
    if (bad_row) {
        PyErr_SetString(PyExc_IndexError, "rows: a row number outside values");
    }

release:
    release_buffers(specs, 4);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"positions", positions, METH_VARARGS,
     "positions(keys, kept, k, pos)\n\n"
     "For each row of keys (rows, n) float64, given its `count` smallest values sorted in\n"
     "kept (rows, count), write the columns of the first k of them into pos (rows, k) int64,\n"
     "in (key, column) order."},
    {"group_minima", group_minima, METH_VARARGS,
     "group_minima(keys, g, out)\n\n"
     "The minimum of each group of g contiguous keys of each row of keys (rows, n) float64\n"
     "into out (rows, n // g); the n mod g last keys of a row are in no group."},
    {"compact", compact, METH_VARARGS,
     "compact(keys, bound, cand, cand_col, count)\n\n"
     "The keys of each row of keys (rows, n) float64 at or below bound (rows,), in column\n"
     "order, into cand / cand_col (rows, width) float64 / int64, padded with +inf; count\n"
     "(rows,) int64 gets how many there were (possibly more than width)."},
    {"weighted_sums", weighted_sums, METH_VARARGS,
     "weighted_sums(dist, rows, width, values, power, added, out)\n\n"
     "For each row of dist and rows (rows, w), over the first width neighbours, the\n"
     "weights s = max(1 - d^2 / 2, 0)^power + added (power 0: 1 + added) into\n"
     "out (rows, 2) as (sum of s, sum of s * values[rows])."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_select", "The engine's compiled selection kernel.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__select(void) { return PyModule_Create(&module); }
