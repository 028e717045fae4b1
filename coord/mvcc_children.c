/* mvcc_children: the immediate children of a directory at one revision. */
#include "mvcc_internal.h"

int mvcc_txn_list_children(mvcc_txn *t, const uint8_t *dir, size_t dir_len, const uint8_t *after,
                           size_t after_len, int64_t rev, int64_t limit, mvcc_child_fn fn,
                           void *arg, uint64_t *seeks)
{
    (void)t, (void)dir, (void)dir_len, (void)after, (void)after_len, (void)rev, (void)limit;
    (void)fn, (void)arg;
    *seeks = 0;
    return MVCC_ERR_INVALID;
}
