/* txn_parse: the transaction script of `coordctl txn`, in etcdctl's grammar.
 *
 *   script   = compares "\n" ops "\n" ops "\n"      (compares, then success ops, then failure
 *                                                    ops; each section ends at an empty line)
 *   compare  = target "(" quoted-key [ "," quoted-range-end ] ")" op quoted-operand
 *   target   = "ver" | "version" | "c" | "create" | "m" | "mod" | "val" | "value" | "lease"
 *   op       = "=" | "!=" | "<" | ">"
 *   request  = a put, get or del command line: put k v [--lease=..] | get k [end] [--prefix]...
 *
 * Quoted strings use Go's syntax ("a\tb", `raw`). Operands of version, create and mod are
 * decimal, of lease hexadecimal (etcdctl 3.4 crashes on lease compares; later etcdctl reads
 * them as hex). The optional range end (a coord extension) makes the compare hold for every
 * key in [key, end). Words of a request split as etcdctl splits them: on blanks, with
 * "double quoted" (Go escapes) and 'single quoted' words. Where etcdctl stops with "EOF"
 * when the input ends before the last empty line, the end of input here ends the section.
 */
#ifndef COORD_CLI_TXN_PARSE_H
#define COORD_CLI_TXN_PARSE_H

#include "cli.h"
#include "libcoord.h"

#include <stdio.h>

/* Reads a whole script from `in` into req (memory in pool). With `prompt` (interactive mode)
 * each section is announced on it first, as etcdctl -i does. */
int txn_parse(FILE *in, FILE *prompt, cli_pool *pool, coord_txn_req *req, cli_err *e);

/* One compare line (already trimmed). */
int txn_parse_compare(const char *line, cli_pool *pool, coord_compare *out, cli_err *e);

/* One request line (already trimmed). */
int txn_parse_op(const char *line, cli_pool *pool, coord_op *out, cli_err *e);

/* Splits a line into words (see above); *words and the words live in the pool.
 * Returns 0, or -1 on an unterminated quote or a bad escape. */
int txn_split_words(const char *line, cli_pool *pool, char ***words, int *n_words);

/* Decodes the Go-quoted string starting at *p ("..." or `...`), advancing *p past it. The
 * result is NUL-terminated in the pool and may hold NULs (its length in *len). */
int txn_unquote(const char **p, cli_pool *pool, char **out, size_t *len);

#endif
