/* coord: the server. main builds every part from the configuration, serves until SIGINT or
 * SIGTERM, then takes the parts down in the reverse order. */
#include "apply.h"
#include "config.h"
#include "ids.h"
#include "lease_expiry.h"
#include "lease_forward.h"
#include "lease_store.h"
#include "recipe.h"
#include "members.h"
#include "membership.h"
#include "peer.h"
#include "server.h"
#include "snapshot.h"
#include "watch_service.h"

#include <errno.h>
#include <grpc/grpc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int make_data_dir(const char *dir)
{
    if (mkdir(dir, 0700) == 0 || errno == EEXIST) return 0;
    fprintf(stderr, "coord: cannot create data dir %s: %s\n", dir, strerror(errno));
    return -1;
}

/* Request IDs as etcd makes them: the member ID's low 16 bits, then a 40-bit start time in ms. */
static void init_request_ids(coord_server *s)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    s->reqid_prefix = ((s->member_id & 0xffff) << 48) | ((ms & 0xffffffffffULL) << 8);
}

static const char *bind_host(const config_url *u)
{
    return strcmp(u->host, "localhost") == 0 ? "127.0.0.1" : u->host;
}

static void peer_deliver(void *arg, uint64_t from, const uint8_t *msg, size_t len)
{
    coord_server *s = arg;
    node_receive(s->log, from, msg, len);
}

static void peer_unreachable(void *arg, uint64_t to)
{
    coord_server *s = arg;
    node_report_unreachable(s->log, to);
}

/* The peer listener and one outgoing stream per other member. */
static int start_peers(coord_server *s, const coord_config *cfg)
{
    peer_opts po = {.cluster_id = s->cluster_id,
                    .self_id = s->member_id,
                    .deliver = peer_deliver,
                    .unreachable = peer_unreachable,
                    .arg = s};
    if (peer_create(&po, &s->peers) != 0) return -1;
    rpc_server_opts ro = {.threads = 1, .max_recv_bytes = PEER_MAX_RECV_BYTES};
    if (rpc_server_create(&ro, &s->peer_rpc) != 0) return -1;
    if (peer_register(s->peers, s->peer_rpc) != 0) return -1;
    if (cluster_peer_service_register(s, s->peer_rpc) != 0) return -1;
    for (size_t i = 0; i < cfg->listen_peer_urls.count; i++) {
        const config_url *u = &cfg->listen_peer_urls.urls[i];
        char addr[300];
        snprintf(addr, sizeof(addr), "%s:%d", bind_host(u), u->port);
        if (rpc_server_listen(s->peer_rpc, addr) < 0) {
            fprintf(stderr, "coord: cannot listen for peers on %s\n", u->url);
            return -1;
        }
    }
    member_rec recs[CONFIG_MAX_MEMBERS];
    size_t n = membership_copy(s, recs);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].id == s->member_id) continue;
        char addr[300];
        member_peer_addr(&recs[i], addr, sizeof(addr));
        if (peer_add(s->peers, recs[i].id, addr) != 0) return -1;
    }
    return 0;
}

/* Every tick, on the node thread. */
static void server_tick(void *arg)
{
    coord_server *s = arg;
    wait_expire(s->waits, server_now_ms(), COORD_ERR_TIMEOUT);
    members_tick(s);
    maintenance_tick(s);
    membership_tick(s);
}

static void node_fatal(void *arg)
{
    (void)arg;
    /* The state machine cannot go on: stop the way an operator would. */
    kill(getpid(), SIGTERM);
}

/* "localhost" binds the loopback address only, as a coordination service on a laptop should. */
static int listen_clients(coord_server *s, const coord_config *cfg)
{
    for (size_t i = 0; i < cfg->listen_client_urls.count; i++) {
        const config_url *u = &cfg->listen_client_urls.urls[i];
        char addr[300];
        snprintf(addr, sizeof(addr), "%s:%d", bind_host(u), u->port);
        if (rpc_server_listen(s->rpc, addr) < 0) {
            fprintf(stderr, "coord: cannot listen for clients on %s\n", u->url);
            return -1;
        }
        fprintf(stderr, "coord: serving client requests on %s\n", addr);
    }
    return 0;
}

/* The lease table, filled from what the store holds: every lease held, none expiring, until the
 * expiry thread finds this member leading. */
static int open_leases(coord_server *s, const coord_config *cfg)
{
    const char *interval = getenv("COORD_LEASE_CHECKPOINT_INTERVAL_MS");
    lease_table_opts lo = {
        .now_ms = lease_clock_ms,
        .min_ttl = lease_min_ttl(cfg->election_ms, cfg->heartbeat_ms),
        /* etcd's checkpoint interval (5 min); the environment may shorten it for tests. */
        .checkpoint_interval_ms = interval ? atoll(interval) : 5 * 60 * 1000,
        /* Not ticked for an election timeout: the member was not running (lease.h). */
        .pause_ms = cfg->election_ms,
    };
    if (lease_table_create(&lo, &s->leases) != LEASE_OK) return -1;
    char *err = NULL;
    if (lease_store_load(s->st, s->leases, &err) != 0) {
        fprintf(stderr, "coord: cannot read the leases in %s: %s\n", cfg->data_dir,
                err ? err : "unknown error");
        free(err);
        lease_table_destroy(s->leases);
        s->leases = NULL;
        return -1;
    }
    return 0;
}

static bool member_leads(void *arg)
{
    coord_server *s = arg;
    return node_leader(s->log) == s->member_id;
}

static int start_lease_expiry(coord_server *s, const coord_config *cfg, lease_expiry **out)
{
    lease_expiry_opts eo = {.s = s,
                            .tick_ms = cfg->heartbeat_ms,
                            .extend_ms = cfg->election_ms,
                            .is_leader = member_leads,
                            .leader_arg = s};
    if (lease_expiry_start(&eo, out) != 0) {
        fprintf(stderr, "coord: cannot start the lease expiry thread\n");
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    /* Signals are taken by sigwait below; every thread created from here on inherits the mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);

    coord_config cfg;
    enum config_result cr = config_parse(&cfg, argc, argv, stdout, stderr);
    if (cr == CONFIG_EXIT) return 0;
    if (cr != CONFIG_OK) return 2;

    int rc = 1;
    lease_expiry *expiry = NULL;
    watch_service *watches = NULL;
    recipe_engine *recipes = NULL;
    coord_server s;
    memset(&s, 0, sizeof(s));
    s.cfg = &cfg;
    pthread_mutex_init(&s.moves_mu, NULL);
    char *err = NULL;
    if (make_data_dir(cfg.data_dir) != 0) goto fail_free_config;
    if (storage_open(cfg.data_dir, &s.st, &err) != 0) {
        fprintf(stderr, "coord: cannot open the data dir %s: %s\n", cfg.data_dir,
                err ? err : "unknown error");
        free(err);
        goto fail_free_config;
    }
    if (snapshot_startup(s.st, cfg.data_dir) != 0) goto fail_close_storage;
    if (mvcc_open(s.st, &s.kv) != 0) {
        fprintf(stderr, "coord: cannot open the key space in %s\n", cfg.data_dir);
        goto fail_close_storage;
    }
    if (open_leases(&s, &cfg) != 0) goto fail_close_mvcc;
    if (wait_create(&s.waits) != 0) goto fail_free_leases;

    grpc_init();
    bool joining = false;
    if (membership_init(&s, &cfg, &joining) != 0) goto fail_destroy_membership;
    init_request_ids(&s);
    rpc_server_opts ro = {.threads = 2,
                          .max_recv_bytes = (size_t)cfg.max_request_bytes + 512 * 1024};
    if (rpc_server_create(&ro, &s.rpc) != 0) goto fail_destroy_membership;
    if (kv_service_register(&s) || maintenance_service_register(&s) ||
        cluster_service_register(&s) || coordpb_service_register(&s) ||
        lease_service_register(&s) || watch_service_register(&s, &watches) ||
        recipe_create(&s, &recipes) || lock_service_register(&s, recipes) ||
        election_service_register(&s, recipes))
        goto fail_destroy_rpc;
    if (listen_clients(&s, &cfg) != 0) goto fail_destroy_rpc;

    s.request_timeout_ms = 5000 + 2 * cfg.election_ms;
    if (start_peers(&s, &cfg) != 0) goto fail_destroy_peers;
    snapshot_mgr_opts so = {.srv = &s, .reloaded = membership_reload, .reloaded_arg = &s};
    if (snapshot_mgr_create(&so, &s.snapshots) != 0) goto fail_destroy_peers;
    /* A new cluster's founding voters; a member joining a running cluster gets its
     * configuration from the leader's log instead. */
    uint64_t voters[CONFIG_MAX_MEMBERS];
    size_t n_voters = 0;
    member_rec recs[CONFIG_MAX_MEMBERS];
    size_t n_recs = membership_copy(&s, recs);
    for (size_t i = 0; i < n_recs && !joining; i++)
        if (!recs[i].learner) voters[n_voters++] = recs[i].id;
    apply_ctx actx = {.srv = &s};
    node_opts no = {.st = s.st,
                    .applied_index = mvcc_applied_index(s.kv),
                    .apply = apply_entry,
                    .apply_arg = &actx,
                    .on_tick = server_tick,
                    .on_fatal = node_fatal,
                    .cb_arg = &s,
                    .self_id = s.member_id,
                    .voters = voters,
                    .n_voters = n_voters,
                    .apply_conf = membership_apply_conf,
                    .conf_refused = membership_conf_refused,
                    .install_snapshot = snapshot_install_hook,
                    .send_snapshot = snapshot_send_hook,
                    .snapshot_source = snapshot_mgr_source,
                    .snapshot_source_arg = s.snapshots,
                    .peers = s.peers,
                    .tick_ms = cfg.heartbeat_ms,
                    .election_ticks = (int)(cfg.election_ms / cfg.heartbeat_ms),
                    .snapshot_count = cfg.snapshot_count,
                    .log_keep_entries = 5000,
                    .request_timeout_ms = s.request_timeout_ms,
                    .debug_log = cfg.log_level == LOG_DEBUG};
    if (node_start(&no, &s.log) != 0) {
        fprintf(stderr, "coord: cannot start the node in %s\n", cfg.data_dir);
        goto fail_destroy_peers;
    }
    if (rpc_server_start(s.peer_rpc) != 0) goto fail_stop_node;
    if (start_lease_expiry(&s, &cfg, &expiry) != 0) goto fail_stop_node;
    if (rpc_server_start(s.rpc) != 0) goto fail_stop_node;
    fprintf(stderr, "coord: member %016llx (cluster %016llx) ready, data in %s\n",
            (unsigned long long)s.member_id, (unsigned long long)s.cluster_id, cfg.data_dir);

    int sig = 0;
    sigwait(&stop_signals, &sig);
    fprintf(stderr, "coord: received %s, shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;

    /* Shutdown, in an order that leaves no thread holding what is freed next: peers stop
     * talking to the node; the node halts (no more apply, reads answered); whoever still waits
     * is answered; client calls close; then everything is freed. */
fail_stop_node:
    lease_expiry_stop(expiry);
    recipe_stop(recipes);
    rpc_server_shutdown(s.peer_rpc);
    node_halt(s.log);
    snapshot_mgr_destroy(s.snapshots);
    s.snapshots = NULL;
    watch_service_stop(watches);
    wait_cancel_all(s.waits, COORD_ERR_STOPPED);
    maintenance_stop(&s);
    rpc_server_shutdown(s.rpc);
    /* Before the node goes: a forwarding worker may be asking it who leads. */
    lease_forward_destroy(s.lease_fwd);
    s.lease_fwd = NULL;
    peer_destroy(s.peers);
    s.peers = NULL;
    node_free(s.log);
fail_destroy_peers:
    snapshot_mgr_destroy(s.snapshots); /* no stream reached it: peer_rpc never started */
    if (s.peer_rpc) rpc_server_destroy(s.peer_rpc);
    if (s.peers) peer_destroy(s.peers);
fail_destroy_rpc:
    lease_forward_destroy(s.lease_fwd); /* its queued keep-alives hold stream references */
    rpc_server_destroy(s.rpc);
    watch_service_free(watches);
    recipe_free(recipes);
fail_destroy_membership:
    membership_destroy(&s);
    wait_destroy(s.waits);
    grpc_shutdown();
fail_free_leases:
    lease_table_destroy(s.leases);
fail_close_mvcc:
    mvcc_close(s.kv);
fail_close_storage:
    storage_close(s.st);
fail_free_config:
    pthread_mutex_destroy(&s.moves_mu);
    config_free(&cfg);
    return rc;
}
