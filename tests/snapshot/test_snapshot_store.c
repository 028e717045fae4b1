/* snapshot_store: checkpoints and their metadata, installing one into a live database, and
 * finishing an install that stopped halfway (as a crash would stop it). Every test builds real
 * member databases in a temporary directory: a Raft log and hard state written through
 * raft_store, a state machine written through mvcc and lease_store. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lease_store.h"
#include "mvcc.h"
#include "raft_store.h"
#include "snapshot_files.h"
#include "snapshot_store.h"

typedef struct fixture {
    char root[64];
    char src_dir[128], dst_dir[128], ck_dir[160];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f) return -1;
    strcpy(f->root, "/tmp/coord-snapshot-test.XXXXXX");
    if (!mkdtemp(f->root)) return -1;
    snprintf(f->src_dir, sizeof(f->src_dir), "%s/src", f->root);
    snprintf(f->dst_dir, sizeof(f->dst_dir), "%s/dst", f->root);
    /* Inside the receiving member's data dir, where the server puts received snapshots. */
    snprintf(f->ck_dir, sizeof(f->ck_dir), "%s/snap.incoming", f->dst_dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    snapshot_files_remove(f->root);
    free(f);
    return 0;
}

static storage *open_db(const char *dir)
{
    storage *st = NULL;
    char *err = NULL;
    assert_int_equal(storage_open(dir, &st, &err), 0);
    return st;
}

static uint64_t term_of(uint64_t index)
{
    return index <= 5 ? 1 : 2;
}

static raft_conf_state voters_123(void)
{
    raft_conf_state c = {.n_voters = 3, .voters = {1, 2, 3}};
    return c;
}

/* Log entries 1..last (a learner 4 added by the entry at conf_at, if not 0), hard state
 * committing all of them, and a snapshot point at snap_at with voters 1, 2, 3. */
static void write_log(storage *st, uint64_t last, uint64_t snap_at, uint64_t conf_at)
{
    raft_store *rs;
    assert_int_equal(raft_store_open(st, &rs), 0);
    raft_entry *es = calloc(last, sizeof(*es));
    assert_non_null(es);
    raft_conf_change cc = {.n_changes = 1, .changes = {{RAFT_CC_ADD_LEARNER, 4}}};
    size_t cc_len = 0;
    uint8_t *cc_data = raft_conf_change_encode(&cc, NULL, 0, &cc_len);
    assert_non_null(cc_data);
    for (uint64_t i = 1; i <= last; i++) {
        raft_entry *e = &es[i - 1];
        e->index = i;
        e->term = term_of(i);
        if (i == conf_at) {
            e->type = RAFT_ENTRY_CONF_CHANGE;
            e->data = cc_data;
            e->len = (uint32_t)cc_len;
        } else {
            e->type = RAFT_ENTRY_NORMAL;
            e->data = (uint8_t *)"x";
            e->len = 1;
        }
    }
    struct raft_ready rd = {.entries = es,
                            .n_entries = last,
                            .has_hard_state = true,
                            .hard_state = {.term = 2, .vote = 1, .commit = last}};
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    assert_int_equal(raft_store_stage(rs, b, &rd), 0);
    char *err = NULL;
    rocksdb_write(st->db, st->sync_wo, b, &err);
    assert_null(err);
    raft_store_staged_written(rs);
    rocksdb_writebatch_clear(b);
    raft_snapshot_meta sm = {.index = snap_at, .term = term_of(snap_at), .conf = voters_123()};
    assert_int_equal(raft_store_compact(rs, b, &sm, 1000), 0);
    rocksdb_write(st->db, st->sync_wo, b, &err);
    assert_null(err);
    rocksdb_writebatch_destroy(b);
    free(cc_data);
    free(es);
    raft_store_close(rs);
}

static void put_raftmeta(rocksdb_writebatch_t *b, storage *st, const char *k, const char *v)
{
    rocksdb_writebatch_put_cf(b, st->cf[STORAGE_CF_RAFTMETA], k, strlen(k), v, strlen(v));
}

/* A state machine at `applied`: nkeys keys named after tag, a lease, and the state machine's and
 * the member's own keys in raftmeta. */
static void write_state(storage *st, const char *tag, uint64_t applied, int nkeys)
{
    mvcc *m;
    assert_int_equal(mvcc_open(st, &m), MVCC_OK);
    mvcc_txn *t;
    assert_int_equal(mvcc_write_begin(m, &t), MVCC_OK);
    for (int i = 0; i < nkeys; i++) {
        char k[64], v[64];
        snprintf(k, sizeof(k), "/k/%s/%04d", tag, i);
        snprintf(v, sizeof(v), "value of %s %d", tag, i);
        assert_int_equal(
            mvcc_txn_put(t, (uint8_t *)k, strlen(k), (uint8_t *)v, strlen(v), 0, NULL, NULL),
            MVCC_OK);
    }
    rocksdb_writebatch_t *extra = rocksdb_writebatch_create();
    lease_store_put(extra, st, (int64_t)strlen(tag) * 100, 60, 0);
    put_raftmeta(extra, st, "members", tag);
    put_raftmeta(extra, st, "attr/1", tag);
    put_raftmeta(extra, st, "self", tag);
    int64_t rev;
    assert_int_equal(mvcc_txn_commit(t, applied, extra, &rev), MVCC_OK);
    mvcc_txn_end(t);
    rocksdb_writebatch_destroy(extra);
    mvcc_close(m);
}

/* Everything in [lo, hi) of a column family (lo NULL: all of it), as one comparable string. */
static char *dump(storage *st, enum storage_cf cf, const char *lo, size_t lo_len, const char *hi,
                  size_t hi_len, size_t *len)
{
    rocksdb_readoptions_t *ro = rocksdb_readoptions_create();
    if (lo) {
        rocksdb_readoptions_set_iterate_lower_bound(ro, lo, lo_len);
        rocksdb_readoptions_set_iterate_upper_bound(ro, hi, hi_len);
    }
    rocksdb_iterator_t *it = rocksdb_create_iterator_cf(st->db, ro, st->cf[cf]);
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    for (rocksdb_iter_seek_to_first(it); rocksdb_iter_valid(it); rocksdb_iter_next(it)) {
        size_t kl, vl;
        const char *k = rocksdb_iter_key(it, &kl);
        const char *v = rocksdb_iter_value(it, &vl);
        fprintf(f, "%zu:", kl);
        fwrite(k, 1, kl, f);
        fprintf(f, "=%zu:", vl);
        fwrite(v, 1, vl, f);
        fputc('\n', f);
    }
    fclose(f);
    rocksdb_iter_destroy(it);
    rocksdb_readoptions_destroy(ro);
    *len = n;
    return out;
}

static void assert_same(storage *a, storage *b, enum storage_cf cf, const char *lo, size_t lo_len,
                        const char *hi, size_t hi_len)
{
    size_t la, lb;
    char *da = dump(a, cf, lo, lo_len, hi, hi_len, &la);
    char *db = dump(b, cf, lo, lo_len, hi, hi_len, &lb);
    assert_true(la > 0);
    assert_int_equal(la, lb);
    assert_memory_equal(da, db, la);
    free(da);
    free(db);
}

/* The state machine of b equals a's, part by part. */
static void assert_same_state(storage *a, storage *b)
{
    assert_same(a, b, STORAGE_CF_KV, NULL, 0, NULL, 0);
    assert_same(a, b, STORAGE_CF_CHANGES, NULL, 0, NULL, 0);
    assert_same(a, b, STORAGE_CF_META, NULL, 0, NULL, 0);
    assert_same(a, b, STORAGE_CF_LEASE, NULL, 0, NULL, 0);
    assert_same(a, b, STORAGE_CF_RAFTMETA, "members", 7, "members\0", 8);
    assert_same(a, b, STORAGE_CF_RAFTMETA, "attr/", 5, "attr0", 5);
}

static char *get_raftmeta(storage *st, const char *k)
{
    size_t len = 0;
    char *err = NULL;
    char *v = rocksdb_get_cf(st->db, st->ro, st->cf[STORAGE_CF_RAFTMETA], k, strlen(k), &len, &err);
    assert_null(err);
    if (!v) return NULL;
    char *s = strndup(v, len);
    free(v);
    return s;
}

/* A source member at applied index `applied` checkpointed into f->ck_dir/<name>; its meta. */
static char *checkpoint_source(fixture *f, uint64_t applied, int nkeys, raft_snapshot_meta *meta)
{
    storage *src = open_db(f->src_dir);
    write_log(src, 12, 4, 0);
    write_state(src, "source", applied, nkeys);
    assert_int_equal(snapshot_files_mkdirs(f->ck_dir), 0);
    char *dir = NULL;
    assert_true(asprintf(&dir, "%s/ck", f->ck_dir) > 0);
    char *err = NULL;
    assert_int_equal(snapshot_checkpoint(src, dir, meta, &err), 0);
    storage_close(src);
    return dir;
}

/* The receiving member: another state machine and log; its own "self". */
static storage *open_target(fixture *f)
{
    storage *dst = open_db(f->dst_dir);
    write_log(dst, 3, 1, 0);
    write_state(dst, "target", 3, 7);
    return dst;
}

static rocksdb_writebatch_t *log_reset(storage *st, const raft_snapshot_meta *meta)
{
    raft_store *rs;
    assert_int_equal(raft_store_open(st, &rs), 0);
    rocksdb_writebatch_t *b = rocksdb_writebatch_create();
    assert_int_equal(raft_store_stage_snapshot(rs, b, meta), 0);
    raft_store_close(rs);
    return b;
}

/* ---------------------------------------------------------------- names ---------------- */

static void test_a_snapshot_name_survives_encoding(void **state)
{
    (void)state;
    snapshot_name n = {.index = 7006, .token = 0x7d2f6769f1132de0ULL}, back;
    uint8_t data[SNAPSHOT_DATA_LEN];
    snapshot_name_encode(&n, data);
    assert_int_equal(snapshot_name_decode(data, sizeof(data), &back), 0);
    assert_int_equal(back.index, n.index);
    assert_int_equal(back.token, n.token);
    char s[SNAPSHOT_NAME_MAX];
    snapshot_name_format(&n, s);
    assert_string_equal(s, "7006-7d2f6769f1132de0");
}

static void test_bytes_that_are_not_a_snapshot_name_are_refused(void **state)
{
    (void)state;
    snapshot_name n;
    uint8_t data[SNAPSHOT_DATA_LEN] = {'C', 'S', 'N', 'X', 1};
    assert_int_equal(snapshot_name_decode(data, sizeof(data), &n), -1);
    memcpy(data, "CSNP", 4);
    assert_int_equal(snapshot_name_decode(data, sizeof(data) - 1, &n), -1);
    data[4] = 2;
    assert_int_equal(snapshot_name_decode(data, sizeof(data), &n), -1);
}

static void test_file_names_from_the_network_must_be_plain(void **state)
{
    (void)state;
    assert_true(snapshot_file_name_ok("000042.sst", 10));
    assert_true(snapshot_file_name_ok("MANIFEST-000005", 15));
    assert_false(snapshot_file_name_ok("../x", 4));
    assert_false(snapshot_file_name_ok("a/b", 3));
    assert_false(snapshot_file_name_ok(".hidden", 7));
    assert_false(snapshot_file_name_ok("", 0));
    assert_false(snapshot_file_name_ok("a\0b", 3));
}

/* ---------------------------------------------------------------- taking --------------- */

static void test_a_checkpoint_is_described_by_its_applied_index_and_that_entrys_term(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 5, &meta);
    assert_int_equal(meta.index, 9);
    assert_int_equal(meta.term, term_of(9));
    assert_int_equal(meta.conf.n_voters, 3);
    free(dir);
}

static void test_a_checkpoint_conf_includes_changes_applied_after_the_snapshot_point(void **state)
{
    fixture *f = *state;
    storage *src = open_db(f->src_dir);
    write_log(src, 12, 4, 7); /* learner 4 added at 7, after the point at 4 */
    write_state(src, "source", 9, 3);
    char *dir = NULL;
    assert_true(asprintf(&dir, "%s/ck", f->root) > 0);
    raft_snapshot_meta meta;
    char *err = NULL;
    assert_int_equal(snapshot_checkpoint(src, dir, &meta, &err), 0);
    assert_int_equal(meta.index, 9);
    assert_int_equal(meta.conf.n_learners, 1);
    assert_int_equal(meta.conf.learners[0], 4);
    storage_close(src);
    free(dir);
}

static void test_a_change_after_the_applied_index_is_not_in_the_conf(void **state)
{
    fixture *f = *state;
    storage *src = open_db(f->src_dir);
    write_log(src, 12, 4, 11); /* committed, not yet applied */
    write_state(src, "source", 9, 3);
    char *dir = NULL;
    assert_true(asprintf(&dir, "%s/ck", f->root) > 0);
    raft_snapshot_meta meta;
    char *err = NULL;
    assert_int_equal(snapshot_checkpoint(src, dir, &meta, &err), 0);
    assert_int_equal(meta.conf.n_learners, 0);
    storage_close(src);
    free(dir);
}

/* ---------------------------------------------------------------- installing ----------- */

static void test_an_install_makes_the_state_machine_equal_to_the_checkpoint(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 50, &meta);
    storage *dst = open_target(f);
    rocksdb_writebatch_t *b = log_reset(dst, &meta);
    snapshot_install_stats stats;
    char *err = NULL;
    assert_int_equal(snapshot_install(dst, dir, &meta, b, NULL, &stats, &err), 0);
    rocksdb_writebatch_destroy(b);
    assert_true(stats.keys > 100);

    storage *src;
    assert_int_equal(storage_open_read_only(dir, &src, &err), 0);
    assert_same_state(src, dst);
    storage_close(src);
    storage_close(dst);
    free(dir);
}

static void test_an_install_keeps_the_members_own_identity(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 5, &meta);
    storage *dst = open_target(f);
    rocksdb_writebatch_t *b = log_reset(dst, &meta);
    char *err = NULL;
    assert_int_equal(snapshot_install(dst, dir, &meta, b, NULL, NULL, &err), 0);
    rocksdb_writebatch_destroy(b);
    char *self = get_raftmeta(dst, "self");
    assert_string_equal(self, "target");
    free(self);
    storage_close(dst);
    free(dir);
}

static void test_an_install_resets_the_log_to_start_after_the_snapshot(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 5, &meta);
    storage *dst = open_target(f);
    rocksdb_writebatch_t *b = log_reset(dst, &meta);
    char *err = NULL;
    assert_int_equal(snapshot_install(dst, dir, &meta, b, NULL, NULL, &err), 0);
    rocksdb_writebatch_destroy(b);
    raft_store *rs;
    assert_int_equal(raft_store_open(dst, &rs), 0);
    assert_int_equal(raft_store_first_index(rs), 10);
    assert_int_equal(raft_store_last_index(rs), 9);
    raft_hard_state hs;
    raft_snapshot_meta snap;
    const raft_storage *view = raft_store_view(rs);
    assert_int_equal(view->initial_state(view->ctx, &hs, &snap), RAFT_OK);
    assert_int_equal(snap.index, 9);
    assert_int_equal(snap.term, meta.term);
    raft_store_close(rs);
    mvcc *m;
    assert_int_equal(mvcc_open(dst, &m), MVCC_OK);
    assert_int_equal(mvcc_applied_index(m), 9);
    mvcc_close(m);
    storage_close(dst);
    free(dir);
}

static void test_an_install_removes_live_keys_past_any_bound(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 5, &meta);
    storage *dst = open_target(f);
    /* Keys are arbitrary bytes: no fixed upper bound could cover this one. */
    char high[300];
    memset(high, 0xff, sizeof(high));
    char *err = NULL;
    rocksdb_put_cf(dst->db, dst->sync_wo, dst->cf[STORAGE_CF_KV], high, sizeof(high), "v", 1, &err);
    assert_null(err);
    rocksdb_writebatch_t *b = log_reset(dst, &meta);
    assert_int_equal(snapshot_install(dst, dir, &meta, b, NULL, NULL, &err), 0);
    rocksdb_writebatch_destroy(b);
    size_t len;
    char *v =
        rocksdb_get_cf(dst->db, dst->ro, dst->cf[STORAGE_CF_KV], high, sizeof(high), &len, &err);
    assert_null(err);
    assert_null(v);
    storage_close(dst);
    free(dir);
}

static void test_a_checkpoint_at_another_index_is_refused_and_nothing_changes(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 5, &meta);
    storage *dst = open_target(f);
    raft_snapshot_meta wrong = meta;
    wrong.index = 10;
    rocksdb_writebatch_t *b = log_reset(dst, &wrong);
    char *err = NULL;
    assert_int_equal(snapshot_install(dst, dir, &wrong, b, NULL, NULL, &err), -1);
    assert_non_null(err);
    free(err);
    rocksdb_writebatch_destroy(b);
    assert_null(get_raftmeta(dst, "snapshot_install"));
    mvcc *m;
    assert_int_equal(mvcc_open(dst, &m), MVCC_OK);
    assert_int_equal(mvcc_applied_index(m), 3);
    mvcc_close(m);
    storage_close(dst);
    free(dir);
}

static int stop_at_batch_two(void *arg, size_t n)
{
    (void)arg;
    return n == 2;
}

static void test_an_install_stopped_halfway_is_finished_by_recovery_after_a_reopen(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 200, &meta);
    storage *dst = open_target(f);
    rocksdb_writebatch_t *b = log_reset(dst, &meta);
    snapshot_install_opts o = {.batch_bytes = 512, .after_batch = stop_at_batch_two};
    char *err = NULL;
    assert_int_equal(snapshot_install(dst, dir, &meta, b, &o, NULL, &err), -1);
    free(err);
    rocksdb_writebatch_destroy(b);
    storage_close(dst); /* as a crash would leave it */

    dst = open_db(f->dst_dir);
    snapshot_recovery rec;
    assert_int_equal(snapshot_recover(dst, NULL, &rec, &err), 0);
    assert_true(rec.redone);
    assert_int_equal(rec.meta.index, 9);
    assert_string_equal(rec.dir, dir);
    free(rec.dir);
    assert_null(get_raftmeta(dst, "snapshot_install"));
    storage *src;
    assert_int_equal(storage_open_read_only(dir, &src, &err), 0);
    assert_same_state(src, dst);
    storage_close(src);
    raft_store *rs;
    assert_int_equal(raft_store_open(dst, &rs), 0);
    assert_int_equal(raft_store_first_index(rs), 10);
    raft_store_close(rs);
    storage_close(dst);
    free(dir);
}

static void test_recovery_after_a_finished_install_does_nothing(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 5, &meta);
    storage *dst = open_target(f);
    rocksdb_writebatch_t *b = log_reset(dst, &meta);
    char *err = NULL;
    assert_int_equal(snapshot_install(dst, dir, &meta, b, NULL, NULL, &err), 0);
    rocksdb_writebatch_destroy(b);
    snapshot_recovery rec;
    assert_int_equal(snapshot_recover(dst, NULL, &rec, &err), 0);
    assert_false(rec.redone);
    assert_null(rec.dir);
    storage_close(dst);
    free(dir);
}

static void test_an_interrupted_install_whose_snapshot_is_gone_stops_the_start(void **state)
{
    fixture *f = *state;
    raft_snapshot_meta meta;
    char *dir = checkpoint_source(f, 9, 200, &meta);
    storage *dst = open_target(f);
    rocksdb_writebatch_t *b = log_reset(dst, &meta);
    snapshot_install_opts o = {.batch_bytes = 512, .after_batch = stop_at_batch_two};
    char *err = NULL;
    assert_int_equal(snapshot_install(dst, dir, &meta, b, &o, NULL, &err), -1);
    free(err);
    err = NULL;
    rocksdb_writebatch_destroy(b);
    assert_int_equal(snapshot_files_remove(dir), 0);
    snapshot_recovery rec;
    assert_int_equal(snapshot_recover(dst, NULL, &rec, &err), -1);
    assert_non_null(err);
    free(err);
    storage_close(dst);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_snapshot_name_survives_encoding),
        cmocka_unit_test(test_bytes_that_are_not_a_snapshot_name_are_refused),
        cmocka_unit_test(test_file_names_from_the_network_must_be_plain),
        cmocka_unit_test_setup_teardown(
            test_a_checkpoint_is_described_by_its_applied_index_and_that_entrys_term, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_a_checkpoint_conf_includes_changes_applied_after_the_snapshot_point, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_a_change_after_the_applied_index_is_not_in_the_conf,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_install_makes_the_state_machine_equal_to_the_checkpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_install_keeps_the_members_own_identity, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_install_resets_the_log_to_start_after_the_snapshot,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_an_install_removes_live_keys_past_any_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_a_checkpoint_at_another_index_is_refused_and_nothing_changes, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_an_install_stopped_halfway_is_finished_by_recovery_after_a_reopen, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_recovery_after_a_finished_install_does_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_an_interrupted_install_whose_snapshot_is_gone_stops_the_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
