#include "printer.h"

#define DISPATCH(fn, ...)                                                                          \
    switch (p->format) {                                                                           \
    case CLI_FORMAT_JSON:                                                                          \
        return print_json_##fn(p, __VA_ARGS__);                                                    \
    case CLI_FORMAT_FIELDS:                                                                        \
        return print_fields_##fn(p, __VA_ARGS__);                                                  \
    case CLI_FORMAT_SIMPLE:                                                                        \
        break;                                                                                     \
    }                                                                                              \
    return print_simple_##fn(p, __VA_ARGS__)

int print_put(const printer *p, const coord_put_resp *r)
{
    DISPATCH(put, r);
}

int print_range(const printer *p, const coord_range_resp *r)
{
    DISPATCH(range, r);
}

int print_delete(const printer *p, const coord_delete_resp *r)
{
    DISPATCH(delete, r);
}

int print_txn(const printer *p, const coord_txn_resp *r)
{
    DISPATCH(txn, r);
}

int print_member_list(const printer *p, const coord_member_list_resp *r)
{
    DISPATCH(member_list, r);
}

int print_endpoint_status(const printer *p, const ep_status *list, size_t n)
{
    DISPATCH(endpoint_status, list, n);
}

int print_endpoint_health(const printer *p, const ep_health *list, size_t n)
{
    DISPATCH(endpoint_health, list, n);
}

int print_ls(const printer *p, const ls_result *r)
{
    DISPATCH(ls, r);
}
