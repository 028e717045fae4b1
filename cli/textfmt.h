/* textfmt: the small text conversions coordctl needs to read and print values the way
 * etcdctl does (its flags and output follow Go's conventions: "5s" durations, "20 kB" sizes,
 * Go-quoted strings, strconv's booleans).
 */
#ifndef COORD_CLI_TEXTFMT_H
#define COORD_CLI_TEXTFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A duration as Go prints it: "0s", "850ns", "1.5µs", "1.463407ms", "2.5s", "1m30s". */
void fmt_duration(char *buf, size_t cap, int64_t ns);

/* A size in SI units as etcdctl prints db sizes: "9 B", "20 kB", "1.2 MB". */
void fmt_bytes_si(char *buf, size_t cap, uint64_t n);

/* Each byte as "\xNN" (lowercase), as `--hex` prints keys and values. */
void fmt_hex_escaped(FILE *out, const uint8_t *p, size_t len);

/* A double-quoted string with Go's escapes (%q): printable text as is, \n \t \" \\ and
 * friends, \xNN for bytes that are not valid UTF-8 or are control characters. */
void fmt_go_quoted(FILE *out, const uint8_t *p, size_t len);

/* Length (1..4) of the valid UTF-8 sequence at p, its code point in *cp; 0 if the bytes
 * there are not valid UTF-8 (overlong forms and surrogates included). */
size_t utf8_sequence(const uint8_t *p, size_t len, uint32_t *cp);

/* Parses a Go duration ("5s", "500ms", "1m30s", "1.5h"; a bare "0" too) into nanoseconds.
 * Returns 0, or -1 when the text is not a duration. */
int parse_duration(const char *s, int64_t *ns);

/* Go's strconv.ParseBool: 1 t T TRUE true True / 0 f F FALSE false False. */
int parse_bool(const char *s, bool *out);

/* A whole int64 in the given base (0: decimal, 0x hex or 0 octal, as Go's base 0).
 * Returns 0, or -1 on junk, an empty string or overflow. */
int parse_int64(const char *s, int base, int64_t *out);

#endif
