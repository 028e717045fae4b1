#include "members.h"

#include "apply.h"
#include "pbx.h"
#include "rpc.pb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void attr_key(uint8_t key[13], uint64_t id)
{
    memcpy(key, "attr/", 5);
    be64_put(key + 5, id);
}

static int propose_attr(coord_server *s)
{
    const coord_config *cfg = s->cfg;
    pbx_bytes_t client[CONFIG_MAX_URLS];
    for (size_t i = 0; i < cfg->advertise_client_urls.count; i++) {
        client[i].ptr = (const uint8_t *)cfg->advertise_client_urls.urls[i].url;
        client[i].len = strlen(cfg->advertise_client_urls.urls[i].url);
    }
    etcdserverpb_Member m = {0};
    m.ID = s->member_id;
    m.name = (pbx_bytes_t){(const uint8_t *)cfg->name, strlen(cfg->name)};
    m.clientURLs.items = client;
    m.clientURLs.count = cfg->advertise_client_urls.count;
    uint8_t *buf;
    size_t len;
    if (pbx_encode_alloc(&etcdserverpb_Member_msg, &m, &buf, &len) != 0) return -1;
    size_t elen;
    uint8_t *entry = entry_build(ENTRY_MEMBER_ATTR, 0, buf, len, &elen);
    free(buf);
    if (!entry) return -1;
    int rc = node_propose(s->log, entry, elen);
    free(entry);
    return rc;
}

void members_tick(coord_server *s)
{
    if (atomic_load(&s->attr_published)) return;
    /* A proposal waits for a leader by itself; ask again only now and then, in case it was
     * lost with a leader that went away. */
    s->attr_ticks++;
    if (node_leader(s->log) == 0) return;
    if (s->attr_asked_tick == 0 || s->attr_ticks - s->attr_asked_tick >= 20) {
        s->attr_asked_tick = s->attr_ticks;
        propose_attr(s);
    }
}

int members_apply_attr(coord_server *s, uint64_t index, const uint8_t *req, size_t len)
{
    etcdserverpb_Member m;
    rocksdb_writebatch_t *extra = rocksdb_writebatch_create();
    if (pbx_decode(&etcdserverpb_Member_msg, &m, req, len) == 0) {
        uint8_t key[13];
        attr_key(key, m.ID);
        rocksdb_writebatch_put_cf(extra, s->st->cf[STORAGE_CF_RAFTMETA], (const char *)key,
                                  sizeof(key), (const char *)req, len);
        if (m.ID == s->member_id) atomic_store(&s->attr_published, true);
        pbx_release(&etcdserverpb_Member_msg, &m);
    } else {
        fprintf(stderr, "coord: entry %llu has undecodable member attributes; skipped\n",
                (unsigned long long)index);
    }
    mvcc_txn *t;
    int rc = -1;
    if (mvcc_write_begin(s->kv, &t) == MVCC_OK) {
        int64_t rev;
        rc = mvcc_txn_commit(t, index, extra, &rev) == MVCC_OK ? 0 : -1;
        mvcc_txn_end(t);
    }
    rocksdb_writebatch_destroy(extra);
    return rc;
}

uint8_t *members_attr(coord_server *s, uint64_t id, size_t *len)
{
    uint8_t key[13];
    attr_key(key, id);
    char *err = NULL;
    char *v = rocksdb_get_cf(s->st->db, s->st->ro, s->st->cf[STORAGE_CF_RAFTMETA],
                             (const char *)key, sizeof(key), len, &err);
    if (err) {
        free(err);
        return NULL;
    }
    return (uint8_t *)v;
}
