/* The cycle-form fold-alignment loss, fused: the loss and its gradient in one call.
 *
 * A CPU twin of foldpitch.loss.fold_alignment_loss for its common case (envelope
 * linear in log2 period, one read per sample offset, no weights, reduction "mean" or
 * "sum", audio without gradient). The PyTorch path runs about 300 small tensor
 * operations per forward and backward, and on a small CPU their fixed cost, not the
 * arithmetic, sets the time; here it is one loop over the cycles. The mathematics is
 * the PyTorch path's, step by step, and the tests hold the two to 1e-10 in float64:
 *
 * - boundaries: foldpitch.envelope._LogLinearBoundaries (closed-form phase per
 *   segment, exact crossing, implicit-function-theorem gradient);
 * - reads and sums: foldpitch.loss.cycle._WindowSums (all reads of a cycle share one
 *   fraction, so the kernel weights are computed once per cycle);
 * - kernels: foldpitch.interp (linear, Keys cubic a = -0.5, Hann-windowed sinc).
 *
 * It computes in float64 whatever the inputs' type. When a gradient is wanted, the one
 * call also computes the gradient of the loss with respect to the envelope (the reads
 * and their slopes in one pass over the audio); the backward pass only scales it by the
 * incoming gradient, so nothing per cycle is stored. The reduction over cycles and rows
 * and the broadcast between envelope and audio rows happen here too: each tensor
 * operation saved on the Python side is a few microseconds.
 * Built by foldpitch._native with the system C compiler on first use.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LN2 0.69314718055994530942
#define PI 3.14159265358979323846
#define SINC_TAYLOR_BELOW 0.05 /* as foldpitch.interp._SINC_TAYLOR_BELOW */
#define MAX_TAPS 512 /* sinc half-width up to 256 */

enum { KERNEL_LINEAR = 0, KERNEL_CUBIC = 1, KERNEL_SINC = 2 };
enum { NORMALIZATION_NONE = 0, NORMALIZATION_ENERGY = 1 };
enum { OK = 0, OUT_OF_MEMORY = 1, BAD_ARGUMENT = 2 };

/* ---- small functions, as in foldpitch.envelope ---------------------------------- */

static double expm1_ratio(double z) { return z == 0.0 ? 1.0 : expm1(z) / z; }

static double log1p_ratio(double z) { return z == 0.0 ? 1.0 : log1p(z) / z; }

static double first_moment_ratio(double z) {
    if (fabs(z) < 1e-2) return 0.5 + z * (1.0 / 3 + z * (1.0 / 8 + z * (1.0 / 30 + z / 144)));
    return (exp(z) * (z - 1) + 1) / (z * z);
}

/* ---- interpolation kernels, as in foldpitch.interp ------------------------------ */

typedef struct {
    int kind, half_width, radius, n_taps; /* taps 1 - radius .. radius */
} Kernel;

static double keys(double r, int outer) { /* Keys cubic, a = -0.5, in r = |z| */
    return outer ? ((-0.5 * r + 2.5) * r - 4.0) * r + 2.0 : (1.5 * r - 2.5) * r * r + 1.0;
}

static double keys_slope(double r, int outer) {
    return outer ? (-1.5 * r + 5.0) * r - 4.0 : (4.5 * r - 5.0) * r;
}

/* Weights w[i] and their derivatives dw[i] for the taps of a read with fraction u. */
static void kernel_weights(const Kernel *kernel, double u, double *w, double *dw) {
    if (kernel->kind == KERNEL_LINEAR) {
        w[0] = 1 - u, w[1] = u;
        dw[0] = -1, dw[1] = 1;
    } else if (kernel->kind == KERNEL_CUBIC) {
        /* taps -1, 0, 1, 2 at r = u + 1, u, 1 - u, 2 - u; the last two mirrored */
        w[0] = keys(u + 1, 1), dw[0] = keys_slope(u + 1, 1);
        w[1] = keys(u, 0), dw[1] = keys_slope(u, 0);
        w[2] = keys(1 - u, 0), dw[2] = -keys_slope(1 - u, 0);
        w[3] = keys(2 - u, 1), dw[3] = -keys_slope(2 - u, 1);
    } else {
        const double a = PI / kernel->half_width;
        for (int i = 0; i < kernel->n_taps; i++) {
            const double z = u - (1 - kernel->radius + i);
            const double hann = 0.5 + 0.5 * cos(a * z), hann_slope = -0.5 * a * sin(a * z);
            double sinc, sinc_slope;
            if (fabs(z) < SINC_TAYLOR_BELOW) {
                const double z2 = z * z, p2 = PI * PI, p4 = p2 * p2, p6 = p4 * p2;
                sinc = 1 - p2 * z2 / 6 + p4 * z2 * z2 / 120 - p6 * z2 * z2 * z2 / 5040;
                sinc_slope = z * (-p2 / 3 + p4 * z2 / 30 - p6 * z2 * z2 / 840);
            } else {
                sinc = sin(PI * z) / (PI * z);
                sinc_slope = (cos(PI * z) - sinc) / z;
            }
            w[i] = sinc * hann;
            dw[i] = sinc_slope * hann + sinc * hann_slope;
        }
    }
}

/* The interpolated signal at base + s, weights w on the taps from base; 0 outside. */
static inline double read(const double *x, int64_t n, int64_t at, const double *w, int n_taps) {
    double value = 0;
    if (at >= 0 && at + n_taps <= n) {
        for (int i = 0; i < n_taps; i++) value += w[i] * x[at + i];
    } else {
        for (int i = 0; i < n_taps; i++)
            if (at + i >= 0 && at + i < n) value += w[i] * x[at + i];
    }
    return value;
}

/* ---- cycle boundaries of one row, as _LogLinearBoundaries ------------------------ */

typedef struct {
    int64_t n_frames, n_boundaries;
    double *inverse, *rate, *duration, *increment, *phase_start; /* per segment */
    double *times, *offset, *phase_into;                         /* per boundary */
    int64_t *segment;
} Boundaries;

static void free_boundaries(Boundaries *b) {
    free(b->inverse), free(b->times), free(b->segment);
    memset(b, 0, sizeof *b);
}

static int find_boundaries(const double *level, int64_t n_frames, int64_t n_samples, double hop,
                           Boundaries *b) {
    memset(b, 0, sizeof *b);
    b->n_frames = n_frames;
    b->inverse = malloc(sizeof(double) * (5 * n_frames + 1));
    if (!b->inverse) return OUT_OF_MEMORY;
    b->rate = b->inverse + n_frames, b->duration = b->rate + n_frames;
    b->increment = b->duration + n_frames, b->phase_start = b->increment + n_frames;
    b->phase_start[0] = 0;
    for (int64_t f = 0; f < n_frames; f++) {
        double end = n_samples - 1 - (double)(n_frames - 1) * hop;
        b->duration[f] = f < n_frames - 1 ? hop : (end > 0 ? end : 0.0);
        b->rate[f] = f < n_frames - 1 ? (level[f + 1] - level[f]) * (LN2 / hop) : 0.0;
        b->inverse[f] = exp2(-level[f]);
        b->increment[f] =
            b->inverse[f] * b->duration[f] * expm1_ratio(-b->rate[f] * b->duration[f]);
        b->phase_start[f + 1] = b->phase_start[f] + b->increment[f];
    }
    const int64_t n_boundaries = (int64_t)b->phase_start[n_frames];
    b->n_boundaries = n_boundaries;
    b->times = malloc(sizeof(double) * (3 * n_boundaries + 1));
    b->segment = malloc(sizeof(int64_t) * (n_boundaries + 1));
    if (!b->times || !b->segment) return OUT_OF_MEMORY;
    b->offset = b->times + n_boundaries, b->phase_into = b->offset + n_boundaries;
    int64_t f = 0;
    for (int64_t k = 0; k < n_boundaries; k++) { /* boundary k crosses phase k + 1 */
        const double target = (double)(k + 1);
        while (f + 1 < n_frames && b->phase_start[f + 1] <= target) f++;
        const double into = target - b->phase_start[f];
        const double at_start_rate = into / b->inverse[f];
        b->segment[k] = f;
        b->phase_into[k] = into;
        b->offset[k] = at_start_rate * log1p_ratio(-at_start_rate * b->rate[f]);
        b->times[k] = (double)f * hop + b->offset[k];
    }
    return OK;
}

/* d loss / d level from d loss / d boundary time (grad_times, 0 past the end). */
static void boundaries_backward(const Boundaries *b, double hop, const double *grad_times,
                                double *grad_level, double *scratch) {
    const int64_t n_frames = b->n_frames;
    double *here = scratch, *own = here + n_frames, *next = own + n_frames;
    memset(scratch, 0, sizeof(double) * 3 * n_frames);
    for (int64_t k = 0; k < b->n_boundaries; k++) {
        if (grad_times[k] == 0) continue;
        const int64_t f = b->segment[k];
        const double u = b->offset[k], rate = b->rate[f], inverse = b->inverse[f];
        const double grad = grad_times[k] * exp(rate * u) / inverse * LN2;
        const double part_next =
            f == n_frames - 1 ? 0.0 : inverse * u * (u / hop) * first_moment_ratio(-rate * u);
        here[f] += grad;
        own[f] += grad * (b->phase_into[k] - part_next);
        next[f] += grad * part_next;
    }
    double later = 0, following = 0; /* later: boundaries past segment f */
    for (int64_t f = n_frames - 1; f >= 0; f--) {
        const double d = b->duration[f];
        const double whole_next =
            f == n_frames - 1
                ? 0.0
                : b->inverse[f] * d * (d / hop) * first_moment_ratio(-b->rate[f] * d);
        const double own_f = (b->increment[f] - whole_next) * later + own[f];
        following = whole_next * later + next[f]; /* goes to point f + 1 */
        if (f + 1 < n_frames) grad_level[f + 1] += following;
        grad_level[f] += own_f;
        later += here[f];
    }
}

/* ---- the sums of one cycle, as _WindowSums ------------------------------------- */

typedef struct {
    double difference, energy; /* covered sums of (a - b)^2 and a^2 + b^2 */
    /* their derivatives with respect to the two starts and the length */
    double difference_first, difference_second, difference_length;
    double energy_first, energy_second, energy_length;
} CycleSums;

/* Adds the read at offset s (coverage `cover`) to the sums. */
static inline void add_read(CycleSums *sums, double a, double b, double slope_a, double slope_b,
                            double cover) {
    const double diff = a - b;
    sums->difference += cover * diff * diff;
    sums->energy += cover * (a * a + b * b);
    sums->difference_first += cover * 2 * diff * slope_a;
    sums->difference_second -= cover * 2 * diff * slope_b;
    sums->energy_first += cover * 2 * a * slope_a;
    sums->energy_second += cover * 2 * b * slope_b;
}

/* The sums of one cycle for a kernel of n_taps taps. Always inlined into calls with a
 * constant n_taps, so that the compiler unrolls the taps of linear and cubic reads. */
static inline __attribute__((always_inline)) CycleSums
cycle_sums_taps(const double *x, int64_t n, const Kernel *kernel, double first, double second,
                double length, int with_slopes, const int n_taps) {
    double wa[MAX_TAPS], dwa[MAX_TAPS], wb[MAX_TAPS], dwb[MAX_TAPS];
    const double floor_a = floor(first), floor_b = floor(second);
    kernel_weights(kernel, first - floor_a, wa, dwa);
    kernel_weights(kernel, second - floor_b, wb, dwb);
    const int64_t base_a = (int64_t)floor_a + 1 - kernel->radius;
    const int64_t base_b = (int64_t)floor_b + 1 - kernel->radius;
    const int64_t whole = (int64_t)floor(length);
    const double partial = length - (double)whole;
    CycleSums sums = {0};
    /* Reads s < floor(L) count fully, the read at floor(L) by L - floor(L). Reads
     * whose taps all lie inside the signal, s in [inside_from, inside_to), take the
     * unchecked loop; the few at the edges and the partial one are read with checks. */
    int64_t inside_from = -base_a > -base_b ? -base_a : -base_b;
    if (inside_from < 0) inside_from = 0;
    int64_t inside_to = n - n_taps + 1 - (base_a > base_b ? base_a : base_b);
    if (inside_to > whole) inside_to = whole;
    if (inside_to < inside_from) inside_to = inside_from;
    for (int64_t s = 0; s <= whole; s++) {
        if (s == inside_from && inside_to > inside_from) s = inside_to;
        const double cover = s < whole ? 1.0 : partial;
        const double a = read(x, n, base_a + s, wa, n_taps);
        const double b = read(x, n, base_b + s, wb, n_taps);
        const double slope_a = with_slopes ? read(x, n, base_a + s, dwa, n_taps) : 0.0;
        const double slope_b = with_slopes ? read(x, n, base_b + s, dwb, n_taps) : 0.0;
        add_read(&sums, a, b, slope_a, slope_b, cover);
        if (s == whole) sums.difference_length = (a - b) * (a - b), sums.energy_length = a * a + b * b;
    }
    const double *xa = x + base_a, *xb = x + base_b;
    double d = 0, e = 0, d_first = 0, d_second = 0, e_first = 0, e_second = 0;
    if (!with_slopes) {
#pragma omp simd reduction(+ : d, e)
        for (int64_t s = inside_from; s < inside_to; s++) {
            double a = 0, b = 0;
            for (int i = 0; i < n_taps; i++) a += wa[i] * xa[s + i], b += wb[i] * xb[s + i];
            d += (a - b) * (a - b), e += a * a + b * b;
        }
    } else {
#pragma omp simd reduction(+ : d, e, d_first, d_second, e_first, e_second)
        for (int64_t s = inside_from; s < inside_to; s++) {
            double a = 0, b = 0, slope_a = 0, slope_b = 0;
            for (int i = 0; i < n_taps; i++) {
                a += wa[i] * xa[s + i], b += wb[i] * xb[s + i];
                slope_a += dwa[i] * xa[s + i], slope_b += dwb[i] * xb[s + i];
            }
            const double diff = a - b;
            d += diff * diff, e += a * a + b * b;
            d_first += 2 * diff * slope_a, d_second -= 2 * diff * slope_b;
            e_first += 2 * a * slope_a, e_second += 2 * b * slope_b;
        }
    }
    sums.difference += d, sums.energy += e;
    sums.difference_first += d_first, sums.difference_second += d_second;
    sums.energy_first += e_first, sums.energy_second += e_second;
    return sums;
}

static CycleSums cycle_sums(const double *x, int64_t n, const Kernel *kernel, double first,
                            double second, double length, int with_slopes) {
    switch (kernel->n_taps) {
        case 2: return cycle_sums_taps(x, n, kernel, first, second, length, with_slopes, 2);
        case 4: return cycle_sums_taps(x, n, kernel, first, second, length, with_slopes, 4);
        case 16: return cycle_sums_taps(x, n, kernel, first, second, length, with_slopes, 16);
        default:
            return cycle_sums_taps(x, n, kernel, first, second, length, with_slopes,
                                   kernel->n_taps);
    }
}

static int make_kernel(int kind, int half_width, Kernel *kernel) {
    if (kind < KERNEL_LINEAR || kind > KERNEL_SINC) return BAD_ARGUMENT;
    if (kind == KERNEL_SINC && (half_width < 1 || 2 * half_width > MAX_TAPS)) return BAD_ARGUMENT;
    kernel->kind = kind, kernel->half_width = half_width;
    kernel->radius = kind == KERNEL_LINEAR ? 1 : kind == KERNEL_CUBIC ? 2 : half_width;
    kernel->n_taps = 2 * kernel->radius;
    return OK;
}

/* ---- one row ------------------------------------------------------------------ */

/* Cycle j (j = 0, 1, ...) runs from s_j to s_{j+1} and is compared with the next one,
 * over the shorter of the two; s_0 = 0, s_{k+1} = boundary k. It counts while its
 * successor ends inside the signal (boundary j + 1 <= n_samples - 1). Adds the row's
 * per-cycle losses to *total and their number to *count; with grad_level, also writes
 * the gradient of *total with respect to the row's levels. */
static int row_pass(const double *level, int64_t n_frames, const double *x, int64_t n,
                    double hop, const Kernel *kernel, int normalization, double *total,
                    double *count, double *grad_level) {
    Boundaries b;
    int status = find_boundaries(level, n_frames, n, hop, &b);
    double *grad_starts = NULL, *scratch = NULL;
    const int with_grad = grad_level != NULL;
    if (status == OK && with_grad) {
        grad_starts = calloc(b.n_boundaries + 2, sizeof(double)); /* d total / d s_j */
        scratch = malloc(sizeof(double) * 3 * n_frames);
        if (!grad_starts || !scratch) status = OUT_OF_MEMORY;
    }
    const double last_sample = (double)(n - 1);
    for (int64_t j = 0; status == OK && j + 1 < b.n_boundaries; j++) {
        if (b.times[j + 1] > last_sample) break; /* boundaries increase: none later */
        const double start = j == 0 ? 0.0 : b.times[j - 1], middle = b.times[j];
        const double before = middle - start, after = b.times[j + 1] - middle;
        const double length = before < after ? before : after;
        const CycleSums sums = cycle_sums(x, n, kernel, start, middle, length, with_grad);
        const double energy = sums.energy > DBL_MIN ? sums.energy : DBL_MIN;
        *count += 1;
        if (normalization == NORMALIZATION_NONE)
            *total += sums.difference > 0 ? sqrt(sums.difference) : 0.0;
        else
            *total += sums.difference / energy;
        if (!with_grad) continue;
        double grad_difference = 0, grad_energy = 0;
        if (normalization == NORMALIZATION_NONE) {
            if (sums.difference > 0) grad_difference = 1 / (2 * sqrt(sums.difference));
        } else {
            grad_difference = 1 / energy;
            if (sums.energy > DBL_MIN) grad_energy = -sums.difference / (energy * energy);
        }
        const double grad_first =
            grad_difference * sums.difference_first + grad_energy * sums.energy_first;
        const double grad_second =
            grad_difference * sums.difference_second + grad_energy * sums.energy_second;
        const double grad_length =
            grad_difference * sums.difference_length + grad_energy * sums.energy_length;
        /* length = min(before, after); a tie splits the gradient, as torch.minimum */
        const double grad_before =
            before < after ? grad_length : (before == after ? grad_length / 2 : 0.0);
        const double grad_after = grad_length - grad_before;
        grad_starts[j] += grad_first - grad_before;
        grad_starts[j + 1] += grad_second + grad_before - grad_after;
        grad_starts[j + 2] += grad_after;
    }
    if (status == OK && with_grad) { /* s_0 = 0 is fixed; s_{k+1} is boundary k */
        memset(grad_level, 0, sizeof(double) * n_frames);
        boundaries_backward(&b, hop, grad_starts + 1, grad_level, scratch);
    }
    free(grad_starts), free(scratch);
    free_boundaries(&b);
    return status;
}

/* float32 or float64 input, as float64. */
static void to_double(const void *values, int is_float32, int64_t n, double *out) {
    if (is_float32)
        for (int64_t i = 0; i < n; i++) out[i] = ((const float *)values)[i];
    else
        memcpy(out, values, sizeof(double) * n);
}

static void store(void *out, int is_float32, int64_t i, double value) {
    if (is_float32)
        ((float *)out)[i] = (float)value;
    else
        ((double *)out)[i] = value;
}

/* The loss of a batch of `rows` envelope rows.
 *
 * level: (level_rows, n_frames) log2 periods, float32 or float64 (level_is_float32);
 * batch row r uses level row level_row[r] (level_row NULL: row r). audio: (audio_rows,
 * n_samples), float32 or float64; batch row r reads audio row audio_row[r] (NULL: r).
 * Writes into *loss (one value, of the audio's type) the sum over all counted cycles
 * of the per-cycle loss (sqrt of the covered squared difference, normalization 0, or
 * its ratio to the covered energy, 1), divided by their number when mean is set; into
 * *n_cycles their number; and, unless grad is NULL, d loss / d level into grad
 * (level_rows, n_frames, the level's type), summed over the batch rows that share a
 * level row. Returns 0, or 1 when memory ran out, 2 on a bad kernel. */
int fold_cycles(int64_t rows, int64_t n_frames, int64_t n_samples, double hop, const void *level,
                int level_is_float32, const int64_t *level_row, int64_t level_rows,
                const void *audio, int audio_is_float32, const int64_t *audio_row,
                int kernel_kind, int half_width, int normalization, int mean, void *loss,
                double *n_cycles, void *grad) {
    Kernel kernel;
    int status = make_kernel(kernel_kind, half_width, &kernel);
    double *row_level = malloc(sizeof(double) * n_frames);
    double *row_grad = malloc(sizeof(double) * n_frames);
    double *row_audio = audio_is_float32 ? malloc(sizeof(double) * n_samples) : NULL;
    double *grad_sum = grad ? calloc(level_rows * n_frames, sizeof(double)) : NULL;
    if (!row_level || !row_grad || (audio_is_float32 && !row_audio) || (grad && !grad_sum))
        status = status == OK ? OUT_OF_MEMORY : status;
    double total = 0, count = 0;
    for (int64_t r = 0; status == OK && r < rows; r++) {
        const int64_t l = level_row ? level_row[r] : r, a = audio_row ? audio_row[r] : r;
        const size_t level_size = level_is_float32 ? sizeof(float) : sizeof(double);
        const size_t audio_size = audio_is_float32 ? sizeof(float) : sizeof(double);
        to_double((const char *)level + l * n_frames * level_size, level_is_float32, n_frames,
                  row_level);
        const void *samples = (const char *)audio + a * n_samples * audio_size;
        if (audio_is_float32) to_double(samples, 1, n_samples, row_audio);
        status = row_pass(row_level, n_frames, audio_is_float32 ? row_audio : samples,
                          n_samples, hop, &kernel, normalization, &total, &count,
                          grad ? row_grad : NULL);
        if (status == OK && grad)
            for (int64_t f = 0; f < n_frames; f++) grad_sum[l * n_frames + f] += row_grad[f];
    }
    if (status == OK) {
        const double scale = mean ? 1.0 / (count > 0 ? count : 1.0) : 1.0;
        store(loss, audio_is_float32, 0, total * scale);
        *n_cycles = count;
        if (grad)
            for (int64_t i = 0; i < level_rows * n_frames; i++)
                store(grad, level_is_float32, i, grad_sum[i] * scale);
    }
    free(row_level), free(row_grad), free(row_audio), free(grad_sum);
    return status;
}
