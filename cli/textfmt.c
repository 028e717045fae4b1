#include "textfmt.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Writes v's last `prec` decimal digits as a fraction without trailing zeros (".5", or
 * nothing when they are all zero) at the end of buf[0..*w); returns v / 10^prec. */
static uint64_t put_fraction(char *buf, int *w, uint64_t v, int prec)
{
    char digits[24];
    int n = 0;
    bool printing = false;
    for (int i = 0; i < prec; i++) {
        int d = (int)(v % 10);
        printing = printing || d != 0;
        if (printing) digits[n++] = (char)('0' + d);
        v /= 10;
    }
    if (n) {
        buf[(*w)++] = '.';
        while (n) buf[(*w)++] = digits[--n];
    }
    return v;
}

void fmt_duration(char *buf, size_t cap, int64_t ns)
{
    char tmp[64];
    int w = 0;
    bool negative = ns < 0;
    uint64_t u = negative ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;

    if (u < 1000000000ull) {
        /* Below a second Go switches to the largest unit that keeps an integer part. */
        const char *unit;
        int prec;
        if (u == 0) {
            snprintf(buf, cap, "0s");
            return;
        } else if (u < 1000ull) {
            unit = "ns";
            prec = 0;
        } else if (u < 1000000ull) {
            unit = "µs";
            prec = 3;
        } else {
            unit = "ms";
            prec = 6;
        }
        char frac[24];
        int fw = 0;
        uint64_t whole = put_fraction(frac, &fw, u, prec);
        frac[fw] = '\0';
        snprintf(buf, cap, "%s%llu%s%s", negative ? "-" : "", (unsigned long long)whole, frac,
                 unit);
        return;
    }
    char frac[24];
    int fw = 0;
    uint64_t secs = put_fraction(frac, &fw, u, 9);
    frac[fw] = '\0';
    uint64_t hours = secs / 3600, mins = (secs / 60) % 60;
    secs %= 60;
    if (negative) tmp[w++] = '-';
    if (hours)
        w += snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%lluh%llum", (unsigned long long)hours,
                      (unsigned long long)mins);
    else if (mins)
        w += snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%llum", (unsigned long long)mins);
    snprintf(tmp + w, sizeof(tmp) - (size_t)w, "%llu%ss", (unsigned long long)secs, frac);
    snprintf(buf, cap, "%s", tmp);
}

void fmt_bytes_si(char *buf, size_t cap, uint64_t n)
{
    static const char *const units[] = {"B", "kB", "MB", "GB", "TB", "PB", "EB"};
    if (n < 10) {
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
        return;
    }
    int e = (int)floor(log((double)n) / log(1000.0));
    if (e > 6) e = 6;
    double val = floor((double)n / pow(1000.0, e) * 10 + 0.5) / 10;
    snprintf(buf, cap, val < 10 ? "%.1f %s" : "%.0f %s", val, units[e]);
}

void fmt_hex_escaped(FILE *out, const uint8_t *p, size_t len)
{
    for (size_t i = 0; i < len; i++) fprintf(out, "\\x%02x", p[i]);
}

size_t utf8_sequence(const uint8_t *p, size_t len, uint32_t *cp)
{
    uint8_t c = p[0];
    size_t n;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if ((c & 0xe0) == 0xc0) {
        n = 2, v = c & 0x1f, min = 0x80;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3, v = c & 0x0f, min = 0x800;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (len < n) return 0;
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (p[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return n;
}

void fmt_go_quoted(FILE *out, const uint8_t *p, size_t len)
{
    fputc('"', out);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_sequence(p + i, len - i, &cp);
        if (n == 0) {
            fprintf(out, "\\x%02x", p[i]);
            i++;
            continue;
        }
        switch (cp) {
        case '\a':
            fputs("\\a", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        case '\v':
            fputs("\\v", out);
            break;
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        default:
            if (cp < 0x20 || cp == 0x7f)
                fprintf(out, "\\x%02x", (unsigned)cp);
            else if (cp >= 0x80 && cp < 0xa0) /* C1 controls are not printable */
                fprintf(out, "\\u%04x", (unsigned)cp);
            else
                fwrite(p + i, 1, n, out);
        }
        i += n;
    }
    fputc('"', out);
}

int parse_duration(const char *s, int64_t *ns)
{
    static const struct {
        const char *name;
        double ns;
    } units[] = {{"ns", 1},   {"us", 1e3}, {"µs", 1e3}, {"μs", 1e3},
                 {"ms", 1e6}, {"s", 1e9},  {"m", 60e9}, {"h", 3600e9}};
    const char *p = s;
    bool negative = false;
    if (*p == '-' || *p == '+') negative = *p++ == '-';
    if (strcmp(p, "0") == 0) {
        *ns = 0;
        return 0;
    }
    if (*p == '\0') return -1;
    double total = 0;
    while (*p) {
        char *end;
        if (!(*p >= '0' && *p <= '9') && *p != '.') return -1;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno) return -1;
        p = end;
        size_t best = 0;
        double mult = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t l = strlen(units[i].name);
            /* "ms" must win over "m": take the longest unit that matches. */
            if (strncmp(p, units[i].name, l) == 0 && l > best) best = l, mult = units[i].ns;
        }
        if (!best) return -1;
        p += best;
        total += v * mult;
    }
    if (total > 9.2e18) return -1;
    *ns = (int64_t)(negative ? -total : total);
    return 0;
}

int parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < 6; i++) {
        if (strcmp(s, yes[i]) == 0) return *out = true, 0;
        if (strcmp(s, no[i]) == 0) return *out = false, 0;
    }
    return -1;
}

int parse_int64(const char *s, int base, int64_t *out)
{
    if (*s == '\0' || *s == ' ' || *s == '\t') return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, base);
    if (errno || *end != '\0') return -1;
    *out = v;
    return 0;
}
