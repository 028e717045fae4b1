/* mvcc_compact: physical removal of the versions a compaction hid. */
#include "mvcc_internal.h"

int mvcc_compact_physical(mvcc *m, int64_t rev)
{
    (void)m;
    (void)rev;
    return 0;
}
