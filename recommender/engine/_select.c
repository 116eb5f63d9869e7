/* The k smallest keys of each row and where they are: the engine's selection; and the
 * weighted sums over each row's neighbours that the predictor makes of them.
 *
 * recommender/engine/_search.py selects the k smallest ranking keys of every row of a block,
 * with their columns, in (key, column) order: the engine's tie order (the lower training index
 * first). numpy's path to that is a partition and a sort of the values, then a mask of the
 * row, its nonzero positions, gathers and an argsort to find their columns. smallest() does
 * it in one call per block (see bounded_row): a bound from strided group minima, the few keys
 * under it, and each one's place counted four comparisons at a time instead of sorted, so
 * that there is almost no branch to mispredict (a first kernel that kept a sorted list per
 * row, and one that quickselected, were 2-4x slower than numpy's SIMD sorts for that reason).
 *
 * From float32 keys (a product in float32 takes half the time of one in float64),
 * refined_smallest finds the same k smallest float64 keys: only the keys within a slack of the
 * bound from the float32 keys are computed again in float64 (see refined_row).
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

/* The row functions are built twice, for x86-64-v3 (AVX2 and FMA) and for any x86-64, and
 * the one the CPU runs is picked at load time (GCC's function multiversioning; GCC before 11
 * knows no x86-64-v3, only AVX2). */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__clang__)
#if __GNUC__ >= 11
#define CLONED __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CLONED __attribute__((target_clones("avx2", "default")))
#endif
#else
#define CLONED
#endif

/* The most values kept per row: the engine keeps k + 1 (k is max(k, ranking_k), tens). */
#define MAX_KEPT 4096

/* The buffer of a C-contiguous array of `ndim` dimensions, of doubles (kind 'f'), of floats
 * (kind 's', single precision) or of 64-bit integers (kind 'i'); anything else is a TypeError
 * naming the argument. */
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
    int right_kind = kind == 'f'   ? strcmp(format, "d") == 0
                     : kind == 's' ? strcmp(format, "f") == 0
                                   : (strcmp(format, "l") == 0 || strcmp(format, "q") == 0);
    if (view->itemsize != (kind == 's' ? 4 : 8) || !right_kind || view->ndim != ndim) {
        PyErr_Format(PyExc_TypeError, "%s: expected a %d-d array of %s", name, ndim,
                     kind == 'f' ? "float64" : kind == 's' ? "float32" : "int64");
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

/* One (key, column) pair of a row's candidates. Pairs order by key, then column: the engine's
 * tie order (the lower training index first). */
typedef struct {
    double key;
    int64_t col;
} Pair;

static inline int pair_less(const Pair *a, const Pair *b) {
    return a->key < b->key || (a->key == b->key && a->col < b->col);
}

static inline void pair_swap(Pair *a, Pair *b) {
    Pair t = *a;
    *a = *b;
    *b = t;
}

/* Rearrange p[0..c) so that p[nth] is the pair a sort would put there, none after it less
 * and none before it greater (quickselect, median-of-three pivots). */
static void select_pairs(Pair *p, Py_ssize_t c, Py_ssize_t nth) {
    Py_ssize_t lo = 0, hi = c - 1;
    while (hi > lo) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (pair_less(&p[mid], &p[lo])) pair_swap(&p[mid], &p[lo]);
        if (pair_less(&p[hi], &p[lo])) pair_swap(&p[hi], &p[lo]);
        if (pair_less(&p[hi], &p[mid])) pair_swap(&p[hi], &p[mid]);
        Pair pivot = p[mid];
        Py_ssize_t i = lo, j = hi;
        while (i <= j) {
            while (pair_less(&p[i], &pivot)) i++;
            while (pair_less(&pivot, &p[j])) j--;
            if (i <= j) {
                pair_swap(&p[i], &p[j]);
                i++;
                j--;
            }
        }
        if (nth <= j) {
            hi = j;
        } else if (nth >= i) {
            lo = i;
        } else {
            return;
        }
    }
}

static void sort_pairs(Pair *p, Py_ssize_t c) {
    for (Py_ssize_t i = 1; i < c; i++) {
        Pair x = p[i];
        Py_ssize_t j = i;
        while (j > 0 && pair_less(&x, &p[j - 1])) {
            p[j] = p[j - 1];
            j--;
        }
        p[j] = x;
    }
}

static int pair_compare(const void *a, const void *b) {
    return pair_less(a, b) ? -1 : pair_less(b, a) ? 1 : 0;
}

/* Sort p[0..c) by (key, column): insertion for the short runs the engine keeps, else qsort. */
static void order_pairs(Pair *p, Py_ssize_t c) {
    if (c <= 48) {
        sort_pairs(p, c);
    } else {
        qsort(p, (size_t)c, sizeof(Pair), pair_compare);
    }
}

/* The m smallest keys of one row and their columns into vals / cols, sorted by (key, column),
 * with `room` >= 2m pairs of scratch space: the way for the rows bounded_row leaves (many
 * keys tied at its bound), general but slower, its sorting steps being branchy. Keys are
 * scanned once against a threshold, the m-th smallest key kept so far (until the scratch
 * space first fills, every key is kept); the keys below it are appended, and when the
 * scratch space fills it is cut back to its m smallest (quickselect), which lowers the
 * threshold. A key equal to the
 * threshold comes after it in (key, column) order, so it is never needed. A NaN never passes;
 * a row with fewer than m keys that are not NaN is padded with NaN at column 0, which the
 * caller's tie check flags (NaN compares false). */
static void smallest_row(const double *row, Py_ssize_t n, Py_ssize_t m, double *vals,
                         int64_t *cols, Pair *p, Py_ssize_t room) {
    Py_ssize_t c = 0;
    int cut = 0;
    double threshold = INFINITY;
    for (Py_ssize_t j = 0; j < n; j++) {
        double x = row[j];
        if (cut ? x < threshold : x == x) {
            p[c].key = x;
            p[c].col = j;
            if (++c == room) {
                select_pairs(p, c, m - 1);
                c = m;
                cut = 1;
                threshold = p[m - 1].key;
            }
        }
    }
    if (c > m) {
        select_pairs(p, c, m - 1);
        c = m;
    }
    order_pairs(p, c);
    for (Py_ssize_t i = 0; i < m; i++) {
        vals[i] = i < c ? p[i].key : NAN;
        cols[i] = i < c ? p[i].col : 0;
    }
}

/* Four doubles, eight floats, and four 64-bit (eight 32-bit) integers (what comparing two
 * such vectors gives: -1 for true, 0 for false). Built with AVX2 in the x86-64-v3 clones, as
 * two SSE2 halves elsewhere. The functions that return them are always inlined, so GCC's
 * note that such a return's ABI differs without AVX concerns no call that is made. */
#pragma GCC diagnostic ignored "-Wpsabi"
typedef double Doubles4 __attribute__((vector_size(32)));
typedef float Floats8 __attribute__((vector_size(32)));
typedef int32_t Ints8 __attribute__((vector_size(32)));
typedef int64_t Longs4 __attribute__((vector_size(32)));

/* The places of xs[i], ..., xs[i + 3] in (value, position) order among xs[0..c): for each, how
 * many values come before it, those at or below it at earlier positions and those below it at
 * later ones. Four places at once, each value broadcast and compared with all four, so that
 * nothing is summed across lanes (counting one place at a time spent as much on that as on
 * the comparisons). xs must hold +inf in [c, c + 4) (their lanes' places are meaningless, and
 * they come last, so they count for nothing) and no NaN. No branch. Always inlined, so the
 * vector it returns never crosses a call (whose ABI differs between the clones). */
static inline __attribute__((always_inline)) Longs4 places_of_four(const double *xs,
                                                                  Py_ssize_t c, Py_ssize_t i) {
    Doubles4 x;
    memcpy(&x, xs + i, sizeof x);
    Longs4 count = {0, 0, 0, 0};
    for (Py_ssize_t j = 0; j < i; j++) {
        Doubles4 y = {xs[j], xs[j], xs[j], xs[j]};
        count -= y <= x;
    }
    const Longs4 lane = {0, 1, 2, 3};
    for (int64_t t = 0; t < 4; t++) { /* among the four: at or below before a lane, below after */
        Doubles4 y = {xs[i + t], xs[i + t], xs[i + t], xs[i + t]};
        Longs4 at = {t, t, t, t};
        count -= ((y <= x) & (at < lane)) | ((y < x) & (at > lane));
    }
    for (Py_ssize_t j = i + 4; j < c; j++) {
        Doubles4 y = {xs[j], xs[j], xs[j], xs[j]};
        count -= y < x;
    }
    return count;
}

/* Whether any of x[0..8) is at or below the bound: one vector comparison per four (eight)
 * keys, as most blocks of eight of a wide row have none. */
static inline __attribute__((always_inline)) int any_at_or_below8(const double *x, double bound) {
    Doubles4 lo, hi, b = {bound, bound, bound, bound};
    memcpy(&lo, x, sizeof lo);
    memcpy(&hi, x + 4, sizeof hi);
    Longs4 at_or_below = (lo <= b) | (hi <= b);
    return (at_or_below[0] | at_or_below[1] | at_or_below[2] | at_or_below[3]) != 0;
}

static inline __attribute__((always_inline)) int any_at_or_below8f(const float *x, float bound) {
    Floats8 keys, b = {bound, bound, bound, bound, bound, bound, bound, bound};
    memcpy(&keys, x, sizeof keys);
    Longs4 at_or_below;
    Ints8 flags = keys <= b;
    memcpy(&at_or_below, &flags, sizeof flags);
    return (at_or_below[0] | at_or_below[1] | at_or_below[2] | at_or_below[3]) != 0;
}

/* The two passes over a row's keys, for float64 keys (suffix d) and float32 keys (suffix f):
 *
 * group_minima: the minimum of each of `groups` strided groups (column j in group j mod groups)
 * into minima[0..groups); the inner loop runs over contiguous keys, so it is vectorised.
 *
 * columns_at_or_below: the columns of the keys at or below `bound`, ascending, into cols;
 * their count, or -1 when they would not fit in `room`. Blocks of eight keys with none at or
 * below it are skipped by one vector test; the others are appended without a branch (every
 * column written, kept if it passed). NaN is never at or below anything. */
#define ROW_PASSES(SUFFIX, T, ANY_AT_OR_BELOW8)                                                   \
    static inline __attribute__((always_inline)) void group_minima_##SUFFIX(                      \
        const T *row, Py_ssize_t n, Py_ssize_t groups, T *minima) {                               \
        for (Py_ssize_t b = 0; b < groups; b++) {                                                 \
            minima[b] = INFINITY;                                                                 \
        }                                                                                         \
        Py_ssize_t j = 0;                                                                         \
        for (; j + groups <= n; j += groups) {                                                    \
            const T *x = row + j;                                                                 \
            for (Py_ssize_t b = 0; b < groups; b++) {                                             \
                minima[b] = x[b] < minima[b] ? x[b] : minima[b];                                  \
            }                                                                                     \
        }                                                                                         \
        for (Py_ssize_t b = 0; j + b < n; b++) {                                                  \
            minima[b] = row[j + b] < minima[b] ? row[j + b] : minima[b];                          \
        }                                                                                         \
    }                                                                                             \
                                                                                                  \
    static inline __attribute__((always_inline)) Py_ssize_t columns_at_or_below_##SUFFIX(         \
        const T *row, Py_ssize_t n, T bound, int64_t *cols, Py_ssize_t room) {                    \
        Py_ssize_t c = 0, j = 0;                                                                  \
        for (; j + 8 <= n; j += 8) {                                                              \
            const T *x = row + j;                                                                 \
            if (!ANY_AT_OR_BELOW8(x, bound)) {                                                    \
                continue;                                                                         \
            }                                                                                     \
            if (c + 8 > room) {                                                                   \
                return -1;                                                                        \
            }                                                                                     \
            for (int t = 0; t < 8; t++) {                                                         \
                cols[c] = j + t;                                                                  \
                c += x[t] <= bound;                                                               \
            }                                                                                     \
        }                                                                                         \
        if (c + 8 > room) {                                                                       \
            return -1;                                                                            \
        }                                                                                         \
        for (; j < n; j++) {                                                                      \
            cols[c] = j;                                                                          \
            c += row[j] <= bound;                                                                 \
        }                                                                                         \
        return c;                                                                                 \
    }

ROW_PASSES(d, double, any_at_or_below8)
ROW_PASSES(f, float, any_at_or_below8f)

/* The m-th smallest of minima[0..groups) (+inf in [groups, groups + 4)): a bound on a row's
 * m-th smallest key when each minimum is that of a group of the row's keys. */
static inline __attribute__((always_inline)) double bound_of_minima(const double *minima,
                                                                   Py_ssize_t groups,
                                                                   Py_ssize_t m) {
    for (Py_ssize_t b = 0; b < groups; b += 4) {
        Longs4 place = places_of_four(minima, groups, b);
        for (int t = 0; t < 4 && b + t < groups; t++) {
            if (place[t] == m - 1) {
                return minima[b + t];
            }
        }
    }
    return INFINITY; /* fewer than m minima that are not NaN */
}

/* The m first of c candidates (cand[i] at column cand_col[i], columns ascending) in (key,
 * column) order into vals and cols, each placed by counting; a short row is padded with NaN
 * at column 0. cand must have room for c + 4 (+inf is written there). */
static inline __attribute__((always_inline)) void place_candidates(
    double *cand, const int64_t *cand_col, Py_ssize_t c, Py_ssize_t m, double *vals,
    int64_t *cols) {
    for (Py_ssize_t i = 0; i < m; i++) {
        vals[i] = NAN;
        cols[i] = 0;
    }
    for (Py_ssize_t i = c; i < c + 4; i++) {
        cand[i] = INFINITY;
    }
    for (Py_ssize_t i = 0; i < c; i += 4) {
        Longs4 place = places_of_four(cand, c, i);
        for (int t = 0; t < 4 && i + t < c; t++) {
            if (place[t] < m) {
                vals[place[t]] = cand[i + t];
                cols[place[t]] = cand_col[i + t];
            }
        }
    }
}

/* A call's working space for its rows of n keys, m of them kept: 2m strided groups (at most n,
 * which is >= m) let about 1.4m candidates through, with room for 8m; the threshold scan
 * keeps up to 2m pairs (at least 32). Float32 keys also need their group minima in float32
 * and, for a row left to the whole-row way, its n float64 keys. Zeroed, it holds nothing. */
typedef struct {
    Py_ssize_t groups, cand_room, pair_room;
    double *minima, *cand;
    int64_t *cand_col;
    Pair *pairs;
    float *group_min; /* float32 keys only */
    double *exact_row; /* float32 keys only */
} RowScratch;

static int scratch_alloc(RowScratch *work, Py_ssize_t n, Py_ssize_t m, int float32_keys) {
    work->groups = 2 * m < n ? 2 * m : n;
    work->cand_room = 8 * m + 8;
    work->pair_room = 2 * m > 32 ? 2 * m : 32;
    work->minima = PyMem_RawMalloc((size_t)(work->groups + 4) * sizeof(double));
    work->cand = PyMem_RawMalloc((size_t)(work->cand_room + 4) * sizeof(double));
    work->cand_col = PyMem_RawMalloc((size_t)work->cand_room * sizeof(int64_t));
    work->pairs = PyMem_RawMalloc((size_t)work->pair_room * sizeof(Pair));
    if (float32_keys) {
        work->group_min = PyMem_RawMalloc((size_t)work->groups * sizeof(float));
        work->exact_row = PyMem_RawMalloc((size_t)n * sizeof(double));
    }
    if (!work->minima || !work->cand || !work->cand_col || !work->pairs ||
        (float32_keys && (!work->group_min || !work->exact_row))) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void scratch_free(RowScratch *work) {
    PyMem_RawFree(work->minima);
    PyMem_RawFree(work->cand);
    PyMem_RawFree(work->cand_col);
    PyMem_RawFree(work->pairs);
    PyMem_RawFree(work->group_min);
    PyMem_RawFree(work->exact_row);
}

/* The m smallest keys of one row by a bound: the row's columns are dealt into `groups` strided
 * groups (column j into group j mod groups), and the m-th smallest of the groups' minima
 * bounds the row's m-th smallest key from above (m groups each hold a key at or below it).
 * The keys at or below the bound, in column order, are the candidates: about
 * -groups * ln(1 - m / groups) of them, whatever the row's width (29 for m = 21 and 42
 * groups). Each candidate's place is counted (how many candidates come before it), which has
 * no branch to mispredict, unlike a sort. Returns 0, or -1 when the keys passing the bound
 * would not fit in the candidates' room (ties at the bound): the caller then takes the row
 * another way.
 * NaN keys are never candidates; a row with fewer than m others is padded with NaN at
 * column 0. */
CLONED
static int bounded_row(const double *row, Py_ssize_t n, Py_ssize_t m, double *vals,
                       int64_t *cols, const RowScratch *work) {
    Py_ssize_t groups = work->groups;
    double *minima = work->minima, *cand = work->cand;
    int64_t *cand_col = work->cand_col;
    group_minima_d(row, n, groups, minima);
    for (Py_ssize_t b = groups; b < groups + 4; b++) {
        minima[b] = INFINITY;
    }
    double bound = bound_of_minima(minima, groups, m);
    Py_ssize_t c = columns_at_or_below_d(row, n, bound, cand_col, work->cand_room);
    if (c < 0) {
        return -1;
    }
    for (Py_ssize_t i = 0; i < c; i++) {
        cand[i] = row[cand_col[i]];
    }
    place_candidates(cand, cand_col, c, m, vals, cols);
    return 0;
}

/* smallest(keys, vals, cols): the m smallest keys of each row (m is vals' width), by
 * bounded_row, or smallest_row for a row it leaves. */
static PyObject *smallest(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *keys_obj, *vals_obj, *cols_obj;
    if (!PyArg_ParseTuple(args, "OOO", &keys_obj, &vals_obj, &cols_obj)) {
        return NULL;
    }
    Py_buffer keys, vals, cols;
    const BufferSpec specs[] = {
        {keys_obj, &keys, 0, 'f', 2, "keys"},
        {vals_obj, &vals, 1, 'f', 2, "vals"},
        {cols_obj, &cols, 1, 'i', 2, "cols"},
    };
    if (get_buffers(specs, 3) < 0) {
        return NULL;
    }
    Py_ssize_t rows = keys.shape[0], n = keys.shape[1], m = vals.shape[1];
    RowScratch work = {0};
    if (vals.shape[0] != rows || cols.shape[0] != rows || cols.shape[1] != m || m < 1 ||
        m > n || m > MAX_KEPT) {
        PyErr_Format(PyExc_ValueError,
                     "expected keys (rows, n), vals and cols (rows, m) with 1 <= m <= min(n, %d)",
                     MAX_KEPT);
        goto release;
    }
    if (scratch_alloc(&work, n, m, 0) < 0) {
        goto release;
    }
    const double *key_data = keys.buf;
    double *val_data = vals.buf;
    int64_t *col_data = cols.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const double *row = key_data + r * n;
        double *v = val_data + r * m;
        int64_t *cl = col_data + r * m;
        if (bounded_row(row, n, m, v, cl, &work) < 0) {
            smallest_row(row, n, m, v, cl, work.pairs, work.pair_room);
        }
    }
    Py_END_ALLOW_THREADS;

release:
    scratch_free(&work);
    release_buffers(specs, 3);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The float64 dot product of x and y over p terms (four lanes, two chains of them). */
static inline __attribute__((always_inline)) double dot(const double *x, const double *y,
                                                        Py_ssize_t p) {
    Doubles4 a = {0, 0, 0, 0}, b = {0, 0, 0, 0};
    Py_ssize_t i = 0;
    for (; i + 8 <= p; i += 8) {
        Doubles4 x0, x1, y0, y1;
        memcpy(&x0, x + i, sizeof x0);
        memcpy(&x1, x + i + 4, sizeof x1);
        memcpy(&y0, y + i, sizeof y0);
        memcpy(&y1, y + i + 4, sizeof y1);
        a += x0 * y0;
        b += x1 * y1;
    }
    a += b;
    double sum = (a[0] + a[1]) + (a[2] + a[3]);
    for (; i < p; i++) {
        sum += x[i] * y[i];
    }
    return sum;
}

/* The m smallest float64 keys of one row from its float32 keys: `row` holds the float32
 * rounding of the keys query . reference[j] (j < n, p terms each), each within slack / 2 of
 * the float64 key. The m smallest float64 keys are among the keys within slack of the m-th
 * smallest float32 key (each is at most the m-th float64 key plus slack / 2, which is at most
 * the m-th float32 key plus slack). That key is bounded as in bounded_row, the keys up to the
 * bound plus slack are candidates, the m-th smallest of them is the row's, and the
 * candidates within slack of it have their keys computed in float64, placed by counting.
 * Returns 0,
 * or -1 when the candidates would not fit in their room (many keys within the slack of the bound):
 * the caller then computes the whole row in float64. */
CLONED
static int refined_row(const float *row, Py_ssize_t n, Py_ssize_t m, double slack,
                       const double *query, const double *reference, Py_ssize_t p,
                       double *vals, int64_t *cols, const RowScratch *work) {
    Py_ssize_t groups = work->groups;
    float *group_min = work->group_min;
    double *minima = work->minima, *cand = work->cand;
    int64_t *cand_col = work->cand_col;
    group_minima_f(row, n, groups, group_min);
    for (Py_ssize_t b = 0; b < groups; b++) {
        minima[b] = group_min[b];
    }
    for (Py_ssize_t b = groups; b < groups + 4; b++) {
        minima[b] = INFINITY;
    }
    /* Compared in float32: a float32 key is at or below the threshold exactly when it is at
     * or below the float64 bound plus slack (rounding the threshold down, as a float32 key is
     * at most it only if it is at most its rounding down). */
    double limit = bound_of_minima(minima, groups, m) + slack;
    float threshold = (float)limit;
    if ((double)threshold > limit) {
        threshold = nextafterf(threshold, -INFINITY);
    }
    Py_ssize_t c = columns_at_or_below_f(row, n, threshold, cand_col, work->cand_room);
    if (c < 0) {
        return -1;
    }
    /* The candidates hold the row's m smallest float32 keys (all at or below the bound), so
     * their m-th smallest is the row's; only the keys within the slack of it need float64
     * (about m of them, where the bound let about 1.4 m through). */
    for (Py_ssize_t i = 0; i < c; i++) {
        cand[i] = row[cand_col[i]];
    }
    for (Py_ssize_t i = c; i < c + 4; i++) {
        cand[i] = INFINITY;
    }
    double needed = bound_of_minima(cand, c, m) + slack;
    Py_ssize_t kept = 0;
    for (Py_ssize_t i = 0; i < c; i++) {
        cand_col[kept] = cand_col[i];
        kept += cand[i] <= needed;
    }
    for (Py_ssize_t i = 0; i < kept; i++) {
        cand[i] = dot(query, reference + cand_col[i] * p, p);
    }
    place_candidates(cand, cand_col, kept, m, vals, cols);
    return 0;
}

/* refined_smallest(keys, slack, queries, reference, vals, cols): the m smallest float64 keys
 * of each row (queries[r] . reference[j]) from its float32 keys, by refined_row, or from the
 * whole row in float64 for a row it leaves. */
static PyObject *refined_smallest(PyObject *self, PyObject *args) {
    (void)self;
    PyObject *keys_obj, *slack_obj, *queries_obj, *reference_obj, *vals_obj, *cols_obj;
    if (!PyArg_ParseTuple(args, "OOOOOO", &keys_obj, &slack_obj, &queries_obj,
                          &reference_obj, &vals_obj, &cols_obj)) {
        return NULL;
    }
    Py_buffer keys, slack, queries, reference, vals, cols;
    const BufferSpec specs[] = {
        {keys_obj, &keys, 0, 's', 2, "keys"},
        {slack_obj, &slack, 0, 'f', 1, "slack"},
        {queries_obj, &queries, 0, 'f', 2, "queries"},
        {reference_obj, &reference, 0, 'f', 2, "reference"},
        {vals_obj, &vals, 1, 'f', 2, "vals"},
        {cols_obj, &cols, 1, 'i', 2, "cols"},
    };
    if (get_buffers(specs, 6) < 0) {
        return NULL;
    }
    Py_ssize_t rows = keys.shape[0], n = keys.shape[1], m = vals.shape[1];
    Py_ssize_t p = queries.shape[1];
    RowScratch work = {0};
    if (vals.shape[0] != rows || cols.shape[0] != rows || cols.shape[1] != m || m < 1 ||
        m > n || m > MAX_KEPT || slack.shape[0] != rows || queries.shape[0] != rows ||
        reference.shape[0] != n || reference.shape[1] != p) {
        PyErr_Format(PyExc_ValueError,
                     "expected keys (rows, n) float32, slack (rows,), queries (rows, p), "
                     "reference (n, p), vals and cols (rows, m) with 1 <= m <= min(n, %d)",
                     MAX_KEPT);
        goto release;
    }
    if (scratch_alloc(&work, n, m, 1) < 0) {
        goto release;
    }
    const float *key_data = keys.buf;
    const double *slack_data = slack.buf, *query_data = queries.buf;
    const double *reference_data = reference.buf;
    double *val_data = vals.buf;
    int64_t *col_data = cols.buf;
    Py_BEGIN_ALLOW_THREADS;
    for (Py_ssize_t r = 0; r < rows; r++) {
        const double *query = query_data + r * p;
        double *v = val_data + r * m;
        int64_t *cl = col_data + r * m;
        if (refined_row(key_data + r * n, n, m, slack_data[r], query, reference_data, p, v, cl,
                        &work) < 0) {
            for (Py_ssize_t j = 0; j < n; j++) {
                work.exact_row[j] = dot(query, reference_data + j * p, p);
            }
            smallest_row(work.exact_row, n, m, v, cl, work.pairs, work.pair_room);
        }
    }
    Py_END_ALLOW_THREADS;

release:
    scratch_free(&work);
    release_buffers(specs, 6);
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
    {"smallest", smallest, METH_VARARGS,
     "smallest(keys, vals, cols)\n\n"
     "The m smallest keys of each row of keys (rows, n) float64 and their columns into\n"
     "vals (rows, m) float64 and cols (rows, m) int64, sorted by (key, column); NaN keys are\n"
     "never taken (a row short of m others is padded with NaN at column 0)."},
    {"refined_smallest", refined_smallest, METH_VARARGS,
     "refined_smallest(keys, slack, queries, reference, vals, cols)\n\n"
     "The m smallest float64 keys queries[r] . reference[j] of each row, and their columns,\n"
     "into vals (rows, m) float64 and cols (rows, m) int64, sorted by (key, column), found\n"
     "from keys (rows, n) float32, each within slack[r] / 2 of its float64 key: only the keys\n"
     "within slack of the m-th smallest float32 key are computed in float64."},
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
