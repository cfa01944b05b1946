/* Forward steps of foldpitch's Viterbi decoder over one shared grid of states
 * (foldpitch.decode.ViterbiDecoder, offline path). For every row r and frame t:
 *
 *     score[r, i] <- max_j (score[r, j] - |position[i] - position[j]|) + frames[r, t, i]
 *
 * with the maximising j in back[t, r, i], then score[r] minus its maximum when that is
 * finite (scores stay bounded over hours). The maximum over j is a distance transform:
 * a running maximum of score + position from below and of score - position from above,
 * O(n_states) per frame. With free_states = f > 0 a move of up to f states costs
 * nothing: the transform reads window[k] = max of score over states k - f .. k + f
 * (the earliest state reaching it in from_window[k]) instead of score, so a move from j
 * to i costs the distance from position[i] to the nearest position within f states of j.
 * Every operation, tie and order of rounding is the one of the numpy reference,
 * foldpitch.decode._grid_predecessor, so both give the same path:
 *   - in a window, the earliest state that reaches its maximum;
 *   - from below, the latest j <= i that reaches the running maximum;
 *   - from above, the earliest j >= i that reaches it;
 *   - below wins a tie with above.
 * position is already multiplied by the jump cost. back holds uint8 (back_bytes 1,
 * n_states <= 256) or int32 (back_bytes 4). scratch: below and window n_states doubles,
 * from_below and from_window n_states int64s. Returns 0, or 2 for bad arguments.
 */
#include <math.h>
#include <stdint.h>

int viterbi_grid_forward(int64_t rows, int64_t n_frames, int64_t n_states,
                         const double *position, const double *frames, double *score,
                         void *back, int back_bytes, int64_t free_states, double *below,
                         int64_t *from_below, double *window, int64_t *from_window)
{
    if (rows < 0 || n_frames < 0 || n_states < 1 || free_states < 0) return 2;
    if (back_bytes != 1 && back_bytes != 4) return 2;
    if (back_bytes == 1 && n_states > 256) return 2;
    for (int64_t t = 0; t < n_frames; t++) {
        for (int64_t r = 0; r < rows; r++) {
            double *s = score + r * n_states;
            const double *f = frames + (r * n_frames + t) * n_states;
            int64_t offset = (t * rows + r) * n_states;
            /* the scores the transform reads: s itself, or its window maxima */
            const double *source = s;
            if (free_states > 0) {
                for (int64_t k = 0; k < n_states; k++) {
                    int64_t low = k - free_states < 0 ? 0 : k - free_states;
                    int64_t high = k + free_states >= n_states ? n_states - 1 : k + free_states;
                    window[k] = s[low];
                    from_window[k] = low;
                    for (int64_t j = low + 1; j <= high; j++)
                        if (s[j] > window[k]) {
                            window[k] = s[j];
                            from_window[k] = j;
                        }
                }
                source = window;
            }
            /* running maximum of source + position from below */
            double run = 0.0;
            int64_t where = 0;
            for (int64_t i = 0; i < n_states; i++) {
                double v = source[i] + position[i];
                run = (i == 0 || v > run) ? v : run;
                if (v >= run) where = i;
                below[i] = run - position[i];
                from_below[i] = where;
            }
            /* from above, choosing as it goes; source[i] is read before s[i] is written */
            double peak = -INFINITY;
            for (int64_t i = n_states - 1; i >= 0; i--) {
                double v = source[i] - position[i];
                run = (i == n_states - 1 || v > run) ? v : run;
                if (v >= run) where = i;
                double above = run + position[i];
                int take_below = below[i] >= above;
                int64_t chosen = take_below ? from_below[i] : where;
                if (free_states > 0) chosen = from_window[chosen];
                s[i] = (take_below ? below[i] : above) + f[i];
                if (back_bytes == 1)
                    ((uint8_t *)back)[offset + i] = (uint8_t)chosen;
                else
                    ((int32_t *)back)[offset + i] = (int32_t)chosen;
                if (i == n_states - 1 || s[i] > peak) peak = s[i];
            }
            if (isfinite(peak))
                for (int64_t i = 0; i < n_states; i++) s[i] -= peak;
        }
    }
    return 0;
}
