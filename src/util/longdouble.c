/* INCRBYFLOAT arithmetic in C's long double, exactly as Redis does it
 * (string2ld + "%.17Lf" with trailing zeros removed), so results match
 * Redis digit for digit. Rust has no 80-bit float type. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

static int string2ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *eptr;
    long double value;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    if (memchr(buf, '\0', slen) != NULL) return 0;
    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' ||
        ((errno == ERANGE && (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
         errno == EINVAL) ||
        isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* Returns 0 and the formatted result, 1 if an operand is not a float,
 * 2 if the result is NaN or infinite, 3 if it does not fit. */
int forkv_incrbyfloat(const char *cur, size_t curlen, int has_cur, const char *inc, size_t inclen,
                      char *out, size_t outcap, size_t *outlen) {
    long double value = 0, incr = 0;
    if (has_cur && !string2ld(cur, curlen, &value)) return 1;
    if (!string2ld(inc, inclen, &incr)) return 1;
    value += incr;
    if (isnan(value) || isinf(value)) return 2;
    int l = snprintf(out, outcap, "%.17Lf", value);
    if (l < 0 || (size_t)l + 1 > outcap) return 3;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') {
            p--;
            l--;
        }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') {
        out[0] = '0';
        l = 1;
    }
    *outlen = (size_t)l;
    return 0;
}

/* Redis 7.0's getTimeoutFromObjectOrReply in seconds: the argument as a
 * long double, times 1000, rounded up. Returns 0 and the milliseconds, or
 * 1 if it is not a float. C leaves the conversion of an out-of-range value
 * undefined; x86-64 gives LLONG_MIN, so that is what Redis answers with
 * ("timeout is negative"). */
int forkv_timeout_ms(const char *s, size_t slen, long long *ms) {
    long double value;
    if (!string2ld(s, slen, &value)) return 1;
    long double t = ceill(value * 1000.0);
    if (t >= -9223372036854775808.0L && t < 9223372036854775808.0L)
        *ms = (long long)t;
    else
        *ms = (-9223372036854775807LL - 1);
    return 0;
}
