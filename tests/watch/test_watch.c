/* The watch hub against an in-memory store: etcd's create/cancel/progress answers, ordering,
 * catch-up, filters, fragments and bounded memory. The hub runs in manual mode (the test
 * drives every round), except in the tests that check its threads. */
#include "fake_store.h"
#include "watch_internal.h" /* one test holds the hub's lock */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define N_STREAMS 3

typedef struct fx {
    fake_store fs;
    fake_sink sink[N_STREAMS];
    watch_hub *h;
    watch_stream *st[N_STREAMS];
} fx;

static void fx_start(fx *f, watch_hub_opts *o)
{
    o->reader = fs_reader(&f->fs);
    assert_int_equal(watch_hub_create(o, &f->h), WATCH_OK);
    for (int i = 0; i < N_STREAMS; i++)
        assert_int_equal(watch_stream_open(f->h, sink_ops(), &f->sink[i], &f->st[i]), WATCH_OK);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof(*f));
    fs_init(&f->fs);
    for (int i = 0; i < N_STREAMS; i++) sink_init(&f->sink[i]);
    *state = f;
    return 0;
}

/* For tests that need their own options: setup only, fx_start in the test. */
static int setup_started(void **state)
{
    setup(state);
    watch_hub_opts o = {.manual = true};
    fx_start(*state, &o);
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    for (int i = 0; i < N_STREAMS; i++)
        if (f->st[i]) watch_stream_close(f->st[i]);
    if (f->h) {
        watch_hub_stats s;
        watch_hub_get_stats(f->h, &s);
        assert_int_equal(s.watchers, 0);
        assert_int_equal(s.streams, 0);
        watch_hub_destroy(f->h);
    }
    for (int i = 0; i < N_STREAMS; i++) sink_free(&f->sink[i]);
    fs_free(&f->fs);
    free(f);
    return 0;
}

static watch_create_req req_key(const char *key)
{
    return (watch_create_req){.key = (const uint8_t *)key, .key_len = strlen(key)};
}

static watch_create_req req_range(const char *key, const char *end, size_t end_len)
{
    watch_create_req r = req_key(key);
    r.range_end = (const uint8_t *)end;
    r.range_end_len = end_len;
    return r;
}

static void create(fx *f, int s, watch_create_req r)
{
    assert_int_equal(watch_stream_create(f->st[s], &r), WATCH_OK);
}

static void poll_hub(fx *f)
{
    assert_true(watch_hub_poll(f->h) >= 0);
}

static rec_resp *resp(fx *f, int s, size_t i)
{
    assert_true(i < f->sink[s].n);
    return &f->sink[s].v[i];
}

/* Every event sent to watch_id on stream s, in order. */
typedef struct ev_list {
    rec_event *v[8192];
    size_t n;
} ev_list;

static void events_of(fx *f, int s, int64_t id, ev_list *out)
{
    out->n = 0;
    for (size_t i = 0; i < f->sink[s].n; i++) {
        rec_resp *r = &f->sink[s].v[i];
        if (r->watch_id != id) continue;
        for (size_t j = 0; j < r->n && out->n < 8192; j++) out->v[out->n++] = &r->evs[j];
    }
}

/* Responses with events for watch_id on stream s. */
static size_t event_responses(fx *f, int s, int64_t id)
{
    size_t n = 0;
    for (size_t i = 0; i < f->sink[s].n; i++)
        if (f->sink[s].v[i].watch_id == id && f->sink[s].v[i].n > 0) n++;
    return n;
}

/* ---- create, IDs and refusals ---- */

static void test_first_watch_gets_id_0_and_a_created_response_at_the_current_revision(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "1");
    create(f, 0, req_key("a"));
    assert_int_equal(sink_count(&f->sink[0]), 1);
    rec_resp *r = resp(f, 0, 0);
    assert_int_equal(r->watch_id, 0);
    assert_true(r->created);
    assert_false(r->canceled);
    assert_int_equal(r->revision, 2);
}

static void test_auto_ids_count_up_and_skip_ids_a_client_chose(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.watch_id = 1;
    create(f, 0, r);
    create(f, 0, req_key("a"));
    create(f, 0, req_key("a"));
    assert_int_equal(resp(f, 0, 0)->watch_id, 1);
    assert_int_equal(resp(f, 0, 1)->watch_id, 0);
    assert_int_equal(resp(f, 0, 2)->watch_id, 2);
}

static void test_ids_are_per_stream(void **state)
{
    fx *f = *state;
    create(f, 0, req_key("a"));
    create(f, 1, req_key("a"));
    assert_int_equal(resp(f, 0, 0)->watch_id, 0);
    assert_int_equal(resp(f, 1, 0)->watch_id, 0);
}

static void test_a_client_id_already_in_use_is_refused_with_etcds_reason(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.watch_id = 7;
    create(f, 0, r);
    create(f, 0, r);
    rec_resp *x = resp(f, 0, 1);
    assert_true(x->created && x->canceled);
    assert_int_equal(x->watch_id, -1);
    assert_string_equal(x->reason, "mvcc: duplicate watch ID provided on the WatchStream");
}

static void test_range_end_not_after_key_is_refused_as_an_empty_range(void **state)
{
    fx *f = *state;
    create(f, 0, req_range("b", "a", 1));
    create(f, 0, req_range("b", "b", 1));
    for (size_t i = 0; i < 2; i++) {
        rec_resp *x = resp(f, 0, i);
        assert_true(x->created && x->canceled);
        assert_int_equal(x->watch_id, -1);
        assert_string_equal(x->reason, "mvcc: watcher range is empty");
    }
}

static void test_a_refused_create_does_not_use_up_an_id(void **state)
{
    fx *f = *state;
    create(f, 0, req_range("b", "a", 1));
    create(f, 0, req_key("a"));
    assert_int_equal(resp(f, 0, 1)->watch_id, 0);
}

static void test_negative_start_revision_is_refused_as_compacted(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.start_revision = -5;
    create(f, 0, r);
    rec_resp *x = resp(f, 0, 0);
    assert_true(x->created && x->canceled);
    assert_int_equal(x->watch_id, -1);
    assert_string_equal(x->reason, "etcdserver: mvcc: required revision has been compacted");
}

/* ---- live events ---- */

static void test_a_watch_from_now_gets_each_later_put_once_in_order(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "old");
    create(f, 0, req_key("a"));
    fs_put(&f->fs, "a", "1");
    poll_hub(f);
    fs_put(&f->fs, "b", "x");
    fs_put(&f->fs, "a", "2");
    poll_hub(f);
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.v[0]->value, "1");
    assert_int_equal(e.v[0]->mod_rev, 3);
    assert_string_equal(e.v[1]->value, "2");
    assert_int_equal(e.v[1]->mod_rev, 5);
}

static void test_the_create_response_comes_before_any_event(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "1");
    watch_create_req r = req_key("a");
    r.start_revision = 1;
    create(f, 0, r);
    poll_hub(f);
    assert_true(sink_count(&f->sink[0]) >= 2);
    assert_true(resp(f, 0, 0)->created);
    assert_int_equal(resp(f, 0, 1)->n, 1);
}

static void test_all_events_of_one_revision_arrive_in_one_response(void **state)
{
    fx *f = *state;
    create(f, 0, req_range("k", "l", 1));
    fs_txn_begin(&f->fs);
    fs_txn_put(&f->fs, "k1", "a");
    fs_txn_put(&f->fs, "k2", "b");
    fs_txn_put(&f->fs, "k3", "c");
    fs_txn_end(&f->fs);
    poll_hub(f);
    assert_int_equal(event_responses(f, 0, 0), 1);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 3);
    assert_string_equal(e.v[0]->key, "k1");
    assert_string_equal(e.v[2]->key, "k3");
}

static void test_a_range_watch_sees_only_keys_in_its_range(void **state)
{
    fx *f = *state;
    create(f, 0, req_range("b", "d", 1));
    fs_put(&f->fs, "a", "x");
    fs_put(&f->fs, "b", "x");
    fs_put(&f->fs, "c9", "x");
    fs_put(&f->fs, "d", "x");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.v[0]->key, "b");
    assert_string_equal(e.v[1]->key, "c9");
}

static void test_range_end_zero_byte_watches_every_key_from_key_on(void **state)
{
    fx *f = *state;
    create(f, 0, req_range("m", "\0", 1));
    fs_put(&f->fs, "a", "x");
    fs_put(&f->fs, "m", "x");
    fs_put(&f->fs, "\xff\xff", "x");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 2);
    assert_string_equal(e.v[0]->key, "m");
}

static void test_an_empty_key_with_range_end_zero_byte_watches_every_key(void **state)
{
    fx *f = *state;
    watch_create_req r = {.range_end = (const uint8_t *)"\0", .range_end_len = 1};
    create(f, 0, r);
    fs_put(&f->fs, "a", "x");
    fs_put(&f->fs, "z", "x");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 2);
}

static void test_a_delete_event_carries_only_key_and_revision(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "1");
    create(f, 0, req_key("a"));
    int64_t rev = fs_del(&f->fs, "a");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0]->type, WATCH_DELETE);
    assert_int_equal(e.v[0]->mod_rev, rev);
    assert_int_equal(e.v[0]->version, 0);
    assert_int_equal(e.v[0]->create_rev, 0);
    assert_int_equal(e.v[0]->value_len, 0);
}

static void test_many_watchers_on_one_key_each_get_the_event(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 50; i++) create(f, i % N_STREAMS, req_key("a"));
    fs_put(&f->fs, "a", "1");
    poll_hub(f);
    size_t total = 0;
    for (int s = 0; s < N_STREAMS; s++)
        for (size_t i = 0; i < f->sink[s].n; i++) total += f->sink[s].v[i].n;
    assert_int_equal(total, 50);
}

/* ---- filters and prev_kv ---- */

static void test_noput_drops_puts_and_keeps_deletes(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.no_put = true;
    create(f, 0, r);
    fs_put(&f->fs, "a", "1");
    fs_del(&f->fs, "a");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0]->type, WATCH_DELETE);
}

static void test_nodelete_drops_deletes_and_keeps_puts(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.no_delete = true;
    create(f, 0, r);
    fs_put(&f->fs, "a", "1");
    fs_del(&f->fs, "a");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0]->type, WATCH_PUT);
}

static void test_a_response_whose_events_are_all_filtered_is_not_sent(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.no_put = true;
    create(f, 0, r);
    fs_put(&f->fs, "a", "1");
    poll_hub(f);
    assert_int_equal(sink_count(&f->sink[0]), 1); /* the create response only */
}

static void test_prev_kv_carries_the_version_before_the_event(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "1");
    watch_create_req r = req_key("a");
    r.prev_kv = true;
    create(f, 0, r);
    fs_put(&f->fs, "a", "2");
    fs_del(&f->fs, "a");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 2);
    assert_true(e.v[0]->has_prev);
    assert_string_equal(e.v[0]->prev_value, "1");
    assert_int_equal(e.v[0]->prev_mod_rev, 2);
    assert_true(e.v[1]->has_prev);
    assert_string_equal(e.v[1]->prev_value, "2");
}

static void test_prev_kv_is_left_out_for_a_creation(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.prev_kv = true;
    create(f, 0, r);
    fs_put(&f->fs, "a", "1");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 1);
    assert_false(e.v[0]->has_prev);
}

static void test_a_watcher_that_did_not_ask_for_prev_kv_gets_none(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "1");
    watch_create_req r = req_key("a");
    r.prev_kv = true;
    create(f, 0, r);
    create(f, 1, req_key("a"));
    fs_put(&f->fs, "a", "2");
    poll_hub(f);
    ev_list e;
    events_of(f, 1, 0, &e);
    assert_int_equal(e.n, 1);
    assert_false(e.v[0]->has_prev);
}

/* ---- history, catch-up and compaction ---- */

static void test_a_past_start_revision_replays_history_then_goes_live(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "1"); /* rev 2 */
    fs_put(&f->fs, "a", "2"); /* rev 3 */
    fs_put(&f->fs, "a", "3"); /* rev 4 */
    watch_create_req r = req_key("a");
    r.start_revision = 3;
    create(f, 0, r);
    poll_hub(f);
    fs_put(&f->fs, "a", "4");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 3);
    assert_int_equal(e.v[0]->mod_rev, 3);
    assert_int_equal(e.v[1]->mod_rev, 4);
    assert_int_equal(e.v[2]->mod_rev, 5);
}

static void test_catch_up_sends_at_most_1000_revisions_per_response(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 2500; i++) fs_put(&f->fs, "a", "v");
    watch_create_req r = req_key("a");
    r.start_revision = 1;
    create(f, 0, r);
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 2500);
    for (size_t i = 0; i < f->sink[0].n; i++) assert_true(f->sink[0].v[i].n <= 1000);
    assert_int_equal(event_responses(f, 0, 0), 3);
}

static void test_a_start_revision_below_compaction_gets_etcds_compacted_cancel(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 10; i++) fs_put(&f->fs, "a", "v");
    fs_compact(&f->fs, 8);
    watch_create_req r = req_key("a");
    r.start_revision = 3;
    create(f, 0, r);
    poll_hub(f);
    assert_int_equal(sink_count(&f->sink[0]), 2);
    assert_true(resp(f, 0, 0)->created);
    rec_resp *x = resp(f, 0, 1);
    assert_true(x->canceled);
    assert_int_equal(x->watch_id, 0);
    assert_int_equal(x->compact_revision, 8);
    assert_int_equal(x->revision, 0);
    assert_int_equal(x->n, 0);
}

static void test_a_start_revision_at_the_compacted_revision_is_served(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 10; i++) fs_put(&f->fs, "a", "v");
    fs_compact(&f->fs, 8);
    watch_create_req r = req_key("a");
    r.start_revision = 8;
    create(f, 0, r);
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 4); /* revisions 8..11 */
}

static void test_a_compacted_watch_keeps_its_id_until_the_client_cancels_it(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 10; i++) fs_put(&f->fs, "a", "v");
    fs_compact(&f->fs, 8);
    watch_create_req r = req_key("a");
    r.start_revision = 3;
    r.watch_id = 5;
    create(f, 0, r);
    poll_hub(f);
    create(f, 0, r); /* etcd: still in use */
    assert_string_equal(resp(f, 0, 2)->reason,
                        "mvcc: duplicate watch ID provided on the WatchStream");
    assert_int_equal(watch_stream_cancel(f->st[0], 5), WATCH_OK);
    assert_true(resp(f, 0, 3)->canceled);
    assert_int_equal(resp(f, 0, 3)->watch_id, 5);
}

static void test_a_future_start_revision_waits_for_that_revision(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.start_revision = 4;
    create(f, 0, r);
    fs_put(&f->fs, "a", "2"); /* rev 2 */
    fs_put(&f->fs, "a", "3"); /* rev 3 */
    fs_put(&f->fs, "a", "4"); /* rev 4 */
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0]->mod_rev, 4);
}

static void
test_a_watch_created_while_rounds_lag_still_starts_after_the_current_revision(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "1"); /* rev 2: no round ran yet */
    create(f, 0, req_key("a"));
    assert_int_equal(resp(f, 0, 0)->revision, 2);
    fs_put(&f->fs, "a", "2");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0]->mod_rev, 3);
}

static void test_compaction_ahead_of_the_rounds_ends_synced_watchers_that_needed_it(void **state)
{
    fx *f = *state;
    create(f, 0, req_key("a"));
    create(f, 1, req_key("b"));
    fs_put(&f->fs, "a", "1"); /* rev 2 */
    fs_put(&f->fs, "a", "2"); /* rev 3 */
    fs_compact(&f->fs, 3);    /* before any round read revision 2 */
    watch_create_req later = req_key("a");
    later.start_revision = 3;
    create(f, 2, later);
    poll_hub(f);
    assert_int_equal(resp(f, 0, 1)->compact_revision, 3);
    assert_int_equal(resp(f, 1, 1)->compact_revision, 3);
    ev_list e;
    events_of(f, 2, 0, &e);
    assert_int_equal(e.n, 1);
    assert_int_equal(e.v[0]->mod_rev, 3);
}

/* ---- cancel ---- */

static void test_cancel_replies_canceled_and_no_event_follows(void **state)
{
    fx *f = *state;
    create(f, 0, req_key("a"));
    fs_put(&f->fs, "a", "1");
    assert_int_equal(watch_stream_cancel(f->st[0], 0), WATCH_OK);
    poll_hub(f);
    assert_int_equal(sink_count(&f->sink[0]), 2);
    rec_resp *x = resp(f, 0, 1);
    assert_true(x->canceled);
    assert_false(x->created);
    assert_int_equal(x->watch_id, 0);
    assert_int_equal(x->revision, 2);
}

static void test_cancel_of_an_unknown_id_gets_no_reply(void **state)
{
    fx *f = *state;
    create(f, 0, req_key("a"));
    assert_int_equal(watch_stream_cancel(f->st[0], 42), WATCH_OK);
    assert_int_equal(sink_count(&f->sink[0]), 1);
}

static void test_cancel_while_catching_up_stops_the_replay(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 3000; i++) fs_put(&f->fs, "a", "v");
    watch_create_req r = req_key("a");
    r.start_revision = 1;
    create(f, 0, r);
    assert_int_equal(watch_stream_cancel(f->st[0], 0), WATCH_OK);
    poll_hub(f);
    assert_int_equal(sink_count(&f->sink[0]), 2);
}

static void test_an_id_is_free_again_after_its_cancel(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.watch_id = 3;
    create(f, 0, r);
    watch_stream_cancel(f->st[0], 3);
    create(f, 0, r);
    assert_int_equal(resp(f, 0, 2)->watch_id, 3);
    assert_false(resp(f, 0, 2)->canceled);
}

/* ---- fragments and cuts ---- */

static char big[40000];

static void fill_big(void)
{
    memset(big, 'x', sizeof(big) - 1);
}

static void test_a_fragment_watch_gets_a_large_revision_in_fragments(void **state)
{
    fx *f = *state;
    fill_big();
    watch_hub_opts o = {.manual = true, .response_max_bytes = 100000};
    fx_start(f, &o);
    watch_create_req r = req_range("k", "l", 1);
    r.fragment = true;
    create(f, 0, r);
    fs_txn_begin(&f->fs);
    for (int i = 0; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        fs_txn_put(&f->fs, k, big);
    }
    fs_txn_end(&f->fs);
    poll_hub(f);
    size_t n = sink_count(&f->sink[0]);
    assert_true(n >= 3); /* create + at least two fragments */
    size_t events = 0;
    for (size_t i = 1; i < n; i++) {
        rec_resp *x = resp(f, 0, i);
        assert_int_equal(x->fragment, i + 1 < n);
        assert_true(x->n >= 1);
        events += x->n;
    }
    assert_int_equal(events, 6);
}

static void test_a_watch_without_fragment_gets_a_large_revision_whole(void **state)
{
    fx *f = *state;
    fill_big();
    watch_hub_opts o = {.manual = true, .response_max_bytes = 100000};
    fx_start(f, &o);
    create(f, 0, req_range("k", "l", 1));
    fs_txn_begin(&f->fs);
    for (int i = 0; i < 6; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        fs_txn_put(&f->fs, k, big);
    }
    fs_txn_end(&f->fs);
    poll_hub(f);
    assert_int_equal(sink_count(&f->sink[0]), 2);
    assert_int_equal(resp(f, 0, 1)->n, 6);
    assert_false(resp(f, 0, 1)->fragment);
}

static void test_a_large_replay_is_cut_between_revisions_never_inside_one(void **state)
{
    fx *f = *state;
    fill_big();
    watch_hub_opts o = {.manual = true, .response_max_bytes = 100000};
    fx_start(f, &o);
    for (int i = 0; i < 10; i++) {
        fs_txn_begin(&f->fs);
        fs_txn_put(&f->fs, "k1", big);
        fs_txn_put(&f->fs, "k2", big);
        fs_txn_end(&f->fs);
    }
    watch_create_req r = req_range("k", "l", 1);
    r.start_revision = 1;
    create(f, 0, r);
    poll_hub(f);
    assert_true(event_responses(f, 0, 0) > 1);
    for (size_t i = 1; i < sink_count(&f->sink[0]); i++) {
        rec_resp *x = resp(f, 0, i);
        assert_int_equal(x->n % 2, 0);
        assert_int_equal(x->evs[0].mod_rev, x->evs[1].mod_rev);
    }
}

/* ---- slow streams and bounded memory ---- */

static void test_a_stalled_stream_gets_no_live_events_while_over_its_bound(void **state)
{
    fx *f = *state;
    watch_hub_opts o = {.manual = true, .stream_backlog_max = 1000};
    fx_start(f, &o);
    create(f, 0, req_key("a"));
    f->sink[0].backlog = 5000;
    for (int i = 0; i < 100; i++) fs_put(&f->fs, "a", "v");
    poll_hub(f);
    assert_int_equal(sink_count(&f->sink[0]), 1);
    watch_hub_stats s;
    watch_hub_get_stats(f->h, &s);
    assert_int_equal(s.unsynced, 1);
}

static void test_a_stalled_stream_does_not_hold_back_another_streams_events(void **state)
{
    fx *f = *state;
    watch_hub_opts o = {.manual = true, .stream_backlog_max = 1000};
    fx_start(f, &o);
    create(f, 0, req_key("a"));
    create(f, 1, req_key("a"));
    f->sink[0].backlog = 5000;
    for (int i = 0; i < 100; i++) fs_put(&f->fs, "a", "v");
    poll_hub(f);
    ev_list e;
    events_of(f, 1, 0, &e);
    assert_int_equal(e.n, 100);
}

static void test_a_stream_that_drains_gets_every_missed_event_once_in_order(void **state)
{
    fx *f = *state;
    watch_hub_opts o = {.manual = true, .stream_backlog_max = 1000};
    fx_start(f, &o);
    create(f, 0, req_key("a"));
    for (int i = 0; i < 10; i++) fs_put(&f->fs, "a", "v");
    poll_hub(f);
    f->sink[0].backlog = 5000;
    for (int i = 0; i < 50; i++) fs_put(&f->fs, "a", "v");
    poll_hub(f);
    f->sink[0].backlog = 0;
    poll_hub(f);
    for (int i = 0; i < 10; i++) fs_put(&f->fs, "a", "v");
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 70);
    for (size_t i = 0; i < e.n; i++) assert_int_equal(e.v[i]->mod_rev, (int64_t)i + 2);
    watch_hub_stats s;
    watch_hub_get_stats(f->h, &s);
    assert_int_equal(s.synced, 1);
}

/* ---- progress ---- */

static void test_a_progress_request_gets_one_response_with_watch_id_minus_1(void **state)
{
    fx *f = *state;
    create(f, 0, req_key("a"));
    fs_put(&f->fs, "b", "1");
    poll_hub(f);
    watch_stream_progress(f->st[0]);
    assert_int_equal(sink_count(&f->sink[0]), 2);
    rec_resp *x = resp(f, 0, 1);
    assert_int_equal(x->watch_id, -1);
    assert_int_equal(x->revision, 2);
    assert_false(x->created || x->canceled);
    assert_int_equal(x->n, 0);
}

static void test_a_progress_request_waits_until_every_watcher_has_caught_up(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 5; i++) fs_put(&f->fs, "a", "v");
    poll_hub(f);
    watch_create_req r = req_key("a");
    r.start_revision = 2;
    create(f, 0, r);
    watch_stream_progress(f->st[0]);
    assert_int_equal(sink_count(&f->sink[0]), 1);
    poll_hub(f);
    size_t n = sink_count(&f->sink[0]);
    rec_resp *last = resp(f, 0, n - 1);
    assert_int_equal(last->watch_id, -1);
    assert_int_equal(last->revision, 6);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 5);
}

static void test_a_progress_revision_is_never_below_a_revision_the_stream_was_sent(void **state)
{
    fx *f = *state;
    fs_put(&f->fs, "a", "1"); /* rev 2, no round yet */
    create(f, 0, req_key("a"));
    watch_stream_progress(f->st[0]);
    assert_int_equal(sink_count(&f->sink[0]), 1); /* the create said 2; rounds are at 1 */
    poll_hub(f);
    assert_int_equal(resp(f, 0, 1)->watch_id, -1);
    assert_int_equal(resp(f, 0, 1)->revision, 2);
}

static void test_progress_notify_speaks_only_after_a_tick_without_events(void **state)
{
    fx *f = *state;
    watch_create_req r = req_key("a");
    r.progress_notify = true;
    create(f, 0, r);
    create(f, 0, req_key("a")); /* without progress_notify: never */
    fs_put(&f->fs, "a", "1");
    poll_hub(f);
    size_t before = sink_count(&f->sink[0]);
    watch_hub_tick(f->h); /* events went out in this period: nothing */
    assert_int_equal(sink_count(&f->sink[0]), before);
    watch_hub_tick(f->h);
    assert_int_equal(sink_count(&f->sink[0]), before + 1);
    rec_resp *x = resp(f, 0, before);
    assert_int_equal(x->watch_id, 0);
    assert_int_equal(x->revision, 2);
    assert_int_equal(x->n, 0);
}

/* ---- stream life ---- */

static void test_closing_a_stream_frees_its_watchers_and_sends_nothing_more(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 100; i++) create(f, 0, req_key("a"));
    watch_create_req r = req_key("a");
    r.start_revision = 1;
    create(f, 0, r);
    watch_stream_close(f->st[0]);
    f->st[0] = NULL;
    size_t n = sink_count(&f->sink[0]);
    fs_put(&f->fs, "a", "1");
    poll_hub(f);
    assert_int_equal(sink_count(&f->sink[0]), n);
    watch_hub_stats s;
    watch_hub_get_stats(f->h, &s);
    assert_int_equal(s.watchers, 0);
}

/* ---- delivery on the notifying thread ---- */

static int64_t put_and_notify(fx *f, const char *key, const char *value)
{
    int64_t rev = fs_put(&f->fs, key, value);
    watch_hub_notify(f->h, rev);
    return rev;
}

static void test_a_small_revision_is_delivered_by_the_notifying_thread(void **state)
{
    fx *f = *state;
    watch_hub_opts o = {.manual = true, .inline_max_events = 8};
    fx_start(f, &o);
    create(f, 0, req_key("a"));
    put_and_notify(f, "a", "1");
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 1);
}

static void test_a_revision_larger_than_the_inline_limit_is_left_to_the_rounds(void **state)
{
    fx *f = *state;
    watch_hub_opts o = {.manual = true, .inline_max_events = 2};
    fx_start(f, &o);
    create(f, 0, req_range("k", "l", 1));
    fs_txn_begin(&f->fs);
    fs_txn_put(&f->fs, "k1", "a");
    fs_txn_put(&f->fs, "k2", "b");
    fs_txn_put(&f->fs, "k3", "c");
    watch_hub_notify(f->h, fs_txn_end(&f->fs));
    assert_int_equal(sink_count(&f->sink[0]), 1);
    poll_hub(f);
    assert_int_equal(event_responses(f, 0, 0), 1);
}

static void test_without_synced_watchers_a_notify_reads_nothing(void **state)
{
    fx *f = *state;
    watch_hub_opts o = {.manual = true, .inline_max_events = 8};
    fx_start(f, &o);
    int opens = f->fs.opens;
    for (int i = 0; i < 10; i++) put_and_notify(f, "a", "v");
    assert_int_equal(f->fs.opens, opens);
    /* The revisions count as delivered: a watch from the past catches up from the store. */
    watch_create_req r = req_key("a");
    r.start_revision = 5;
    create(f, 0, r);
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 7);
}

static void test_notify_does_not_deliver_while_a_round_holds_the_hub(void **state)
{
    fx *f = *state;
    watch_hub_opts o = {.manual = true, .inline_max_events = 8};
    fx_start(f, &o);
    create(f, 0, req_key("a"));
    pthread_mutex_lock(&f->h->mu); /* as a stream's create or a catch-up send would */
    put_and_notify(f, "a", "1");
    pthread_mutex_unlock(&f->h->mu);
    assert_int_equal(sink_count(&f->sink[0]), 1);
    poll_hub(f);
    ev_list e;
    events_of(f, 0, 0, &e);
    assert_int_equal(e.n, 1);
}

/* ---- a random history against a model ---- */

/* Many watchers (single keys, ranges, filters, past starts), writes in between, streams
 * stalling and draining: each watcher must get exactly the changes of its range from its start
 * revision, in order, each once. */
static void test_random_histories_give_every_watcher_exactly_its_changes(void **state)
{
    fx *f = *state;
    watch_hub_opts o = {.manual = true, .stream_backlog_max = 1, .window_max_revs = 7};
    fx_start(f, &o);
    srand(12345);
    enum { W = 40 };
    struct {
        int stream;
        int64_t id, start;
        char key[4], end[4];
        bool range, no_put;
    } w[W];
    static const char *keys[] = {"a", "b", "c", "d", "e"};
    int created = 0;
    for (int step = 0; step < 600; step++) {
        int op = rand() % 10;
        if (op < 6) {
            const char *k = keys[rand() % 5];
            if (rand() % 4 == 0) {
                fs_del(&f->fs, k);
            } else if (rand() % 3 == 0) {
                fs_txn_begin(&f->fs);
                fs_txn_put(&f->fs, k, "t");
                fs_txn_put(&f->fs, keys[(k[0] - 'a' + 1) % 5], "t");
                fs_txn_end(&f->fs);
            } else {
                fs_put(&f->fs, k, "v");
            }
        } else if (op < 7 && created < W) {
            int i = created++;
            w[i].stream = rand() % N_STREAMS;
            w[i].range = rand() % 2;
            snprintf(w[i].key, sizeof(w[i].key), "%s", keys[rand() % 5]);
            snprintf(w[i].end, sizeof(w[i].end), "%c", w[i].key[0] + 1 + rand() % 3);
            w[i].no_put = rand() % 5 == 0;
            int64_t cur = f->fs.rev;
            w[i].start = rand() % 2 ? 1 + rand() % cur : 0;
            watch_create_req r = w[i].range ? req_range(w[i].key, w[i].end, 1) : req_key(w[i].key);
            r.start_revision = w[i].start;
            r.no_put = w[i].no_put;
            create(f, w[i].stream, r);
            rec_resp *x = resp(f, w[i].stream, f->sink[w[i].stream].n - 1);
            w[i].id = x->watch_id;
            if (!w[i].start) w[i].start = x->revision + 1;
        } else if (op < 8) {
            int s = rand() % N_STREAMS;
            f->sink[s].backlog = f->sink[s].backlog ? 0 : 10;
        } else {
            poll_hub(f);
        }
    }
    for (int s = 0; s < N_STREAMS; s++) f->sink[s].backlog = 0;
    poll_hub(f);
    for (int i = 0; i < created; i++) {
        ev_list e;
        events_of(f, w[i].stream, w[i].id, &e);
        size_t got = 0;
        for (size_t c = 0; c < f->fs.n; c++) {
            const fake_change *ch = &f->fs.ch[c];
            if (ch->rev < w[i].start) continue;
            bool in = w[i].range ? strcmp(ch->key, w[i].key) >= 0 && strcmp(ch->key, w[i].end) < 0
                                 : strcmp(ch->key, w[i].key) == 0;
            if (!in || (w[i].no_put && !ch->del)) continue;
            assert_true(got < e.n);
            assert_string_equal(e.v[got]->key, ch->key);
            assert_int_equal(e.v[got]->mod_rev, ch->rev);
            assert_int_equal(e.v[got]->type, ch->del ? WATCH_DELETE : WATCH_PUT);
            got++;
        }
        assert_int_equal(got, e.n);
    }
}

/* ---- threads ---- */

static void wait_for_events(fx *f, int s, int64_t id, size_t want)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pthread_mutex_lock(&f->sink[s].mu);
        ev_list *e = malloc(sizeof(*e));
        events_of(f, s, id, e);
        size_t n = e->n;
        free(e);
        pthread_mutex_unlock(&f->sink[s].mu);
        if (n >= want) return;
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        assert_true(t.tv_sec - t0.tv_sec < 20);
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
}

typedef struct writer_arg {
    fx *f;
    int n;
} writer_arg;

static void *writer(void *arg)
{
    writer_arg *a = arg;
    for (int i = 0; i < a->n; i++) {
        char k[16];
        snprintf(k, sizeof(k), "w/%d", i % 7);
        int64_t rev = fs_put(&a->f->fs, k, "v");
        watch_hub_notify(a->f->h, rev);
    }
    return NULL;
}

static void concurrent_writer_is_seen_exactly_once_in_order(fx *f, size_t inline_max)
{
    watch_hub_opts o = {.manual = false, .inline_max_events = inline_max};
    fx_start(f, &o);
    create(f, 0, req_range("w/", "w0", 2));
    writer_arg a = {f, 3000};
    pthread_t t;
    pthread_create(&t, NULL, writer, &a);
    /* A second watcher joins mid-stream from revision 1: replay, then live. */
    watch_create_req r = req_range("w/", "w0", 2);
    r.start_revision = 1;
    create(f, 1, r);
    pthread_join(t, NULL);
    wait_for_events(f, 0, 0, 3000);
    wait_for_events(f, 1, 0, 3000);
    for (int s = 0; s < 2; s++) {
        ev_list e;
        pthread_mutex_lock(&f->sink[s].mu);
        events_of(f, s, 0, &e);
        pthread_mutex_unlock(&f->sink[s].mu);
        assert_int_equal(e.n, 3000);
        for (size_t i = 0; i < e.n; i++) assert_int_equal(e.v[i]->mod_rev, (int64_t)i + 2);
    }
}

static void test_with_threads_a_concurrent_writer_is_seen_exactly_once_in_order(void **state)
{
    concurrent_writer_is_seen_exactly_once_in_order(*state, 0);
}

static void test_with_inline_rounds_a_concurrent_writer_is_seen_exactly_once_in_order(void **state)
{
    concurrent_writer_is_seen_exactly_once_in_order(*state, 8);
}

static void test_with_threads_a_replay_from_the_past_catches_up_and_goes_live(void **state)
{
    fx *f = *state;
    for (int i = 0; i < 2500; i++) fs_put(&f->fs, "a", "v");
    watch_hub_opts o = {.manual = false};
    fx_start(f, &o);
    watch_create_req r = req_key("a");
    r.start_revision = 1;
    create(f, 0, r);
    wait_for_events(f, 0, 0, 2500);
    int64_t rev = fs_put(&f->fs, "a", "live");
    watch_hub_notify(f->h, rev);
    wait_for_events(f, 0, 0, 2501);
}

#define T(fn)     cmocka_unit_test_setup_teardown(fn, setup_started, teardown)
#define T_OWN(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_first_watch_gets_id_0_and_a_created_response_at_the_current_revision),
        T(test_auto_ids_count_up_and_skip_ids_a_client_chose),
        T(test_ids_are_per_stream),
        T(test_a_client_id_already_in_use_is_refused_with_etcds_reason),
        T(test_range_end_not_after_key_is_refused_as_an_empty_range),
        T(test_a_refused_create_does_not_use_up_an_id),
        T(test_negative_start_revision_is_refused_as_compacted),
        T(test_a_watch_from_now_gets_each_later_put_once_in_order),
        T(test_the_create_response_comes_before_any_event),
        T(test_all_events_of_one_revision_arrive_in_one_response),
        T(test_a_range_watch_sees_only_keys_in_its_range),
        T(test_range_end_zero_byte_watches_every_key_from_key_on),
        T(test_an_empty_key_with_range_end_zero_byte_watches_every_key),
        T(test_a_delete_event_carries_only_key_and_revision),
        T(test_many_watchers_on_one_key_each_get_the_event),
        T(test_noput_drops_puts_and_keeps_deletes),
        T(test_nodelete_drops_deletes_and_keeps_puts),
        T(test_a_response_whose_events_are_all_filtered_is_not_sent),
        T(test_prev_kv_carries_the_version_before_the_event),
        T(test_prev_kv_is_left_out_for_a_creation),
        T(test_a_watcher_that_did_not_ask_for_prev_kv_gets_none),
        T(test_a_past_start_revision_replays_history_then_goes_live),
        T(test_catch_up_sends_at_most_1000_revisions_per_response),
        T(test_a_start_revision_below_compaction_gets_etcds_compacted_cancel),
        T(test_a_start_revision_at_the_compacted_revision_is_served),
        T(test_a_compacted_watch_keeps_its_id_until_the_client_cancels_it),
        T(test_a_future_start_revision_waits_for_that_revision),
        T(test_a_watch_created_while_rounds_lag_still_starts_after_the_current_revision),
        T(test_compaction_ahead_of_the_rounds_ends_synced_watchers_that_needed_it),
        T(test_cancel_replies_canceled_and_no_event_follows),
        T(test_cancel_of_an_unknown_id_gets_no_reply),
        T(test_cancel_while_catching_up_stops_the_replay),
        T(test_an_id_is_free_again_after_its_cancel),
        T_OWN(test_a_fragment_watch_gets_a_large_revision_in_fragments),
        T_OWN(test_a_watch_without_fragment_gets_a_large_revision_whole),
        T_OWN(test_a_large_replay_is_cut_between_revisions_never_inside_one),
        T_OWN(test_a_stalled_stream_gets_no_live_events_while_over_its_bound),
        T_OWN(test_a_stalled_stream_does_not_hold_back_another_streams_events),
        T_OWN(test_a_stream_that_drains_gets_every_missed_event_once_in_order),
        T(test_a_progress_request_gets_one_response_with_watch_id_minus_1),
        T(test_a_progress_request_waits_until_every_watcher_has_caught_up),
        T(test_a_progress_revision_is_never_below_a_revision_the_stream_was_sent),
        T(test_progress_notify_speaks_only_after_a_tick_without_events),
        T(test_closing_a_stream_frees_its_watchers_and_sends_nothing_more),
        T_OWN(test_a_small_revision_is_delivered_by_the_notifying_thread),
        T_OWN(test_a_revision_larger_than_the_inline_limit_is_left_to_the_rounds),
        T_OWN(test_without_synced_watchers_a_notify_reads_nothing),
        T_OWN(test_notify_does_not_deliver_while_a_round_holds_the_hub),
        T_OWN(test_random_histories_give_every_watcher_exactly_its_changes),
        T_OWN(test_with_threads_a_concurrent_writer_is_seen_exactly_once_in_order),
        T_OWN(test_with_inline_rounds_a_concurrent_writer_is_seen_exactly_once_in_order),
        T_OWN(test_with_threads_a_replay_from_the_past_catches_up_and_goes_live),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
