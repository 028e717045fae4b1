/* printer: coordctl's output, in the formats of etcdctl 3.4 (`-w simple|json|fields`).
 *
 * simple: what etcdctl prints (`OK`; key and value lines; the deleted count; SUCCESS or
 * FAILURE then each response after a blank line). json: the response as etcdctl's JSON
 * (Go's encoding of etcd's messages: zero fields left out, bytes in base64, 64-bit ids as
 * numbers). fields: one `"Name" : value` line per field. coord's own `ls` uses the same
 * three shapes. Functions return 0, or -1 if the output could not be built (memory).
 */
#ifndef COORD_CLI_PRINTER_H
#define COORD_CLI_PRINTER_H

#include "cli.h"
#include "libcoord.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct printer {
    cli_format format;
    bool hex;        /* simple: keys and values as \xNN escapes */
    bool value_only; /* simple: values without their keys (get --print-value-only) */
    bool count_only; /* simple: a range prints its count alone (get --count-only) */
    FILE *out;
    FILE *err; /* where `endpoint health` writes in simple format (etcdctl: stderr) */
} printer;

/* One endpoint's answer to `endpoint status` (resp is only read). */
typedef struct ep_status {
    const char *endpoint;
    const coord_status_resp *resp;
} ep_status;

/* One endpoint's outcome of `endpoint health`. */
typedef struct ep_health {
    const char *endpoint;
    bool healthy;
    char took[32];   /* Go duration text */
    char error[512]; /* "" when healthy */
} ep_health;

int print_put(const printer *p, const coord_put_resp *r);
int print_range(const printer *p, const coord_range_resp *r);
int print_delete(const printer *p, const coord_delete_resp *r);
int print_txn(const printer *p, const coord_txn_resp *r);
int print_member_list(const printer *p, const coord_member_list_resp *r);
int print_endpoint_status(const printer *p, const ep_status *list, size_t n);
int print_endpoint_health(const printer *p, const ep_health *list, size_t n);

/* `ls`: children collected from one or more List pages; header is the first page's. */
typedef struct ls_result {
    coord_header header;
    const coord_child *const *children; /* in print order */
    size_t n_children;
} ls_result;
int print_ls(const printer *p, const ls_result *r);

/* Per format (printer.c dispatches). */
int print_simple_put(const printer *p, const coord_put_resp *r);
int print_simple_range(const printer *p, const coord_range_resp *r);
int print_simple_delete(const printer *p, const coord_delete_resp *r);
int print_simple_txn(const printer *p, const coord_txn_resp *r);
int print_simple_member_list(const printer *p, const coord_member_list_resp *r);
int print_simple_endpoint_status(const printer *p, const ep_status *list, size_t n);
int print_simple_endpoint_health(const printer *p, const ep_health *list, size_t n);
int print_simple_ls(const printer *p, const ls_result *r);

int print_fields_put(const printer *p, const coord_put_resp *r);
int print_fields_range(const printer *p, const coord_range_resp *r);
int print_fields_delete(const printer *p, const coord_delete_resp *r);
int print_fields_txn(const printer *p, const coord_txn_resp *r);
int print_fields_member_list(const printer *p, const coord_member_list_resp *r);
int print_fields_endpoint_status(const printer *p, const ep_status *list, size_t n);
int print_fields_endpoint_health(const printer *p, const ep_health *list, size_t n);
int print_fields_ls(const printer *p, const ls_result *r);

int print_json_put(const printer *p, const coord_put_resp *r);
int print_json_range(const printer *p, const coord_range_resp *r);
int print_json_delete(const printer *p, const coord_delete_resp *r);
int print_json_txn(const printer *p, const coord_txn_resp *r);
int print_json_member_list(const printer *p, const coord_member_list_resp *r);
int print_json_endpoint_status(const printer *p, const ep_status *list, size_t n);
int print_json_endpoint_health(const printer *p, const ep_health *list, size_t n);
int print_json_ls(const printer *p, const ls_result *r);

#endif
