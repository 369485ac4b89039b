/* Random numbers: xoshiro256** (Blackman & Vigna) seeded through splitmix64. The state is
 * always explicit (nn_rng); the only per-thread value is the default seed for new models. */
#include "nn_internal.h"

/* Per thread so that two threads building models never race, and a seed set on one thread
 * does not silently change another's run. 1337 makes an unseeded run reproducible too. */
static _Thread_local uint64_t thread_default_seed = 1337;

void nn_set_seed(uint64_t seed) { thread_default_seed = seed; }

uint64_t nn_default_seed(void) { return thread_default_seed; }

static uint64_t splitmix64_next(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* splitmix64 spreads any seed (0 included) over the 256-bit state, which is then never all
 * zero, the one state xoshiro cannot leave. */
void nn_rng_seed(nn_rng *r, uint64_t seed) {
    for (size_t i = 0; i < NN_ARRAY_LEN(r->s); i++) r->s[i] = splitmix64_next(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nn_rng_u64(nn_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* The top 53 bits fill a double's mantissa exactly: every value k / 2^53, 1 never reached. */
double nn_rng_uniform(nn_rng *r) { return (double)(nn_rng_u64(r) >> 11) * 0x1.0p-53; }

/* Box-Muller, using one of the pair: nn_rng holds no cached spare, so each call consumes
 * exactly two draws and a stream stays reproducible however its calls are interleaved. */
double nn_rng_normal(nn_rng *r) {
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = 1.0 - nn_rng_uniform(r); /* (0, 1]: log stays finite */
    double u2 = nn_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(two_pi * u2);
}

/* Rejects the lowest (2^64 mod n) values so that every residue is equally likely. That
 * threshold is below n, so a draw of at least n (nearly all) is kept without the division
 * that computes it. */
uint64_t nn_rng_below(nn_rng *r, uint64_t n) {
    NN_ASSERT(n > 0);
    for (;;) {
        uint64_t x = nn_rng_u64(r);
        if (x >= n || x >= (0 - n) % n) return x % n;
    }
}

void nn_rng_shuffle(nn_rng *r, int64_t *index, int64_t n) {
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)nn_rng_below(r, (uint64_t)i + 1), t = index[i];
        index[i] = index[j];
        index[j] = t;
    }
}
