#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#ifndef COORD_VERSION
#define COORD_VERSION "0.0.0"
#endif
#ifndef COORD_ETCD_VERSION
#define COORD_ETCD_VERSION "3.4.0"
#endif

enum flag_id {
    F_NAME = 1,
    F_DATA_DIR,
    F_LISTEN_CLIENT,
    F_ADVERTISE_CLIENT,
    F_LISTEN_PEER,
    F_ADVERTISE_PEER,
    F_INITIAL_CLUSTER,
    F_INITIAL_STATE,
    F_INITIAL_TOKEN,
    F_MAX_REQUEST_BYTES,
    F_MAX_TXN_OPS,
    F_HEARTBEAT,
    F_ELECTION,
    F_SNAPSHOT_COUNT,
    F_QUOTA,
    F_LOG_LEVEL,
    F_WATCH_PROGRESS,
    F_VERSION,
    F_HELP,
};

static const struct option flag_table[] = {
    {"name", required_argument, NULL, F_NAME},
    {"data-dir", required_argument, NULL, F_DATA_DIR},
    {"listen-client-urls", required_argument, NULL, F_LISTEN_CLIENT},
    {"advertise-client-urls", required_argument, NULL, F_ADVERTISE_CLIENT},
    {"listen-peer-urls", required_argument, NULL, F_LISTEN_PEER},
    {"initial-advertise-peer-urls", required_argument, NULL, F_ADVERTISE_PEER},
    {"initial-cluster", required_argument, NULL, F_INITIAL_CLUSTER},
    {"initial-cluster-state", required_argument, NULL, F_INITIAL_STATE},
    {"initial-cluster-token", required_argument, NULL, F_INITIAL_TOKEN},
    {"max-request-bytes", required_argument, NULL, F_MAX_REQUEST_BYTES},
    {"max-txn-ops", required_argument, NULL, F_MAX_TXN_OPS},
    {"heartbeat-interval", required_argument, NULL, F_HEARTBEAT},
    {"election-timeout", required_argument, NULL, F_ELECTION},
    {"snapshot-count", required_argument, NULL, F_SNAPSHOT_COUNT},
    {"quota-backend-bytes", required_argument, NULL, F_QUOTA},
    {"log-level", required_argument, NULL, F_LOG_LEVEL},
    {"experimental-watch-progress-notify-interval", required_argument, NULL, F_WATCH_PROGRESS},
    {"version", no_argument, NULL, F_VERSION},
    {"help", no_argument, NULL, F_HELP},
    {NULL, 0, NULL, 0},
};

static const char usage_text[] =
    "Usage:\n"
    "\n"
    "  coord [flags]\n"
    "    Start a coord server (it speaks etcd's v3 API).\n"
    "\n"
    "  coord --version\n"
    "    Show the version of coord.\n"
    "\n"
    "  coord -h | --help\n"
    "    Show the help information about coord.\n"
    "\n"
    "Member:\n"
    "  --name 'default'\n"
    "    Human-readable name for this member.\n"
    "  --data-dir '${name}.coord'\n"
    "    Path to the data directory.\n"
    "  --listen-peer-urls 'http://localhost:2380'\n"
    "    List of URLs to listen on for peer traffic.\n"
    "  --listen-client-urls 'http://localhost:2379'\n"
    "    List of URLs to listen on for client traffic (localhost binds 127.0.0.1).\n"
    "  --max-request-bytes '1572864'\n"
    "    Maximum client request size in bytes the server will accept.\n"
    "  --max-txn-ops '128'\n"
    "    Maximum number of operations permitted in a transaction.\n"
    "  --heartbeat-interval '100'\n"
    "    Time (in milliseconds) of a heartbeat interval.\n"
    "  --election-timeout '1000'\n"
    "    Time (in milliseconds) for an election to timeout.\n"
    "  --snapshot-count '100000'\n"
    "    Number of committed transactions to trigger a snapshot to disk.\n"
    "  --quota-backend-bytes '0'\n"
    "    Raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB).\n"
    "\n"
    "Clustering:\n"
    "  --initial-advertise-peer-urls 'http://localhost:2380'\n"
    "    List of this member's peer URLs to advertise to the rest of the cluster.\n"
    "  --initial-cluster 'default=http://localhost:2380'\n"
    "    Initial cluster configuration for bootstrapping.\n"
    "  --initial-cluster-state 'new'\n"
    "    Initial cluster state ('new' or 'existing').\n"
    "  --initial-cluster-token 'etcd-cluster'\n"
    "    Initial cluster token for the cluster during bootstrap.\n"
    "  --advertise-client-urls 'http://localhost:2379'\n"
    "    List of this member's client URLs to advertise to the public.\n"
    "\n"
    "Logging:\n"
    "  --log-level 'info'\n"
    "    Configures log level. Only supports debug, info, warn, error.\n"
    "\n"
    "Experimental feature:\n"
    "  --experimental-watch-progress-notify-interval '10m'\n"
    "    Duration of periodical watch progress notification.\n";

int config_parse_url(const char *s, config_url *u, const char **why)
{
    const char *rest;
    if (strncmp(s, "http://", 7) == 0) {
        rest = s + 7;
    } else if (strncmp(s, "https://", 8) == 0) {
        *why = "TLS (https) is not supported yet";
        return -1;
    } else if (strncmp(s, "unix://", 7) == 0 || strncmp(s, "unixs://", 8) == 0) {
        *why = "unix sockets are not supported";
        return -1;
    } else {
        *why = "URL scheme must be http";
        return -1;
    }
    const char *colon = strrchr(rest, ':');
    if (!colon || colon == rest) {
        *why = "URL address does not have the form \"host:port\"";
        return -1;
    }
    size_t host_len = (size_t)(colon - rest);
    const char *port_s = colon + 1;
    size_t port_len = strcspn(port_s, "/");
    if (port_s[port_len] == '/' && port_s[port_len + 1] != '\0') {
        *why = "URL must not contain a path";
        return -1;
    }
    char *end;
    errno = 0;
    long port = strtol(port_s, &end, 10);
    if (errno || end == port_s || end != port_s + port_len || port < 0 || port > 65535) {
        *why = "URL port must be a number from 0 to 65535";
        return -1;
    }
    u->host = strndup(rest, host_len);
    u->url = strdup(s);
    u->port = (int)port;
    if (!u->host || !u->url) {
        free(u->host);
        free(u->url);
        *why = "out of memory";
        return -1;
    }
    /* A path of "/" alone is allowed; drop it so URLs compare equal. */
    if (port_s[port_len] == '/') u->url[strlen(u->url) - 1] = '\0';
    return 0;
}

static void url_list_free(config_url_list *l)
{
    for (size_t i = 0; i < l->count; i++) {
        free(l->urls[i].url);
        free(l->urls[i].host);
    }
    l->count = 0;
}

static int url_list_parse(const char *flag, const char *value, config_url_list *l, FILE *err)
{
    url_list_free(l);
    char *copy = strdup(value);
    if (!copy) return -1;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        const char *why = NULL;
        if (l->count == CONFIG_MAX_URLS) {
            fprintf(err, "coord: --%s: more than %d URLs\n", flag, CONFIG_MAX_URLS);
            rc = -1;
            break;
        }
        if (config_parse_url(tok, &l->urls[l->count], &why) != 0) {
            fprintf(err, "coord: --%s: invalid URL \"%s\": %s\n", flag, tok, why);
            rc = -1;
            break;
        }
        l->count++;
    }
    if (rc == 0 && l->count == 0) {
        fprintf(err, "coord: --%s: no URL given\n", flag);
        rc = -1;
    }
    free(copy);
    return rc;
}

static void members_free(coord_config *cfg)
{
    for (size_t i = 0; i < cfg->initial_cluster_count; i++) {
        free(cfg->initial_cluster[i].name);
        url_list_free(&cfg->initial_cluster[i].peer_urls);
    }
    cfg->initial_cluster_count = 0;
}

/* "n1=http://a:1,n1=http://a:2,n2=http://b:1": a name given twice gets both URLs. */
static int initial_cluster_parse(coord_config *cfg, const char *value, FILE *err)
{
    members_free(cfg);
    char *copy = strdup(value);
    if (!copy) return -1;
    int rc = 0;
    char *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok && rc == 0; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) {
            fprintf(err, "coord: --initial-cluster: \"%s\" is not of the form name=url\n", tok);
            rc = -1;
            break;
        }
        *eq = '\0';
        config_member *m = NULL;
        for (size_t i = 0; i < cfg->initial_cluster_count; i++)
            if (strcmp(cfg->initial_cluster[i].name, tok) == 0) m = &cfg->initial_cluster[i];
        if (!m) {
            if (cfg->initial_cluster_count == CONFIG_MAX_MEMBERS) {
                fprintf(err, "coord: --initial-cluster: more than %d members\n",
                        CONFIG_MAX_MEMBERS);
                rc = -1;
                break;
            }
            m = &cfg->initial_cluster[cfg->initial_cluster_count++];
            memset(m, 0, sizeof(*m));
            m->name = strdup(tok);
            if (!m->name) {
                rc = -1;
                break;
            }
        }
        const char *why = NULL;
        if (m->peer_urls.count == CONFIG_MAX_URLS ||
            config_parse_url(eq + 1, &m->peer_urls.urls[m->peer_urls.count], &why) != 0) {
            fprintf(err, "coord: --initial-cluster: invalid URL %s for %s: %s\n", eq + 1, tok,
                    why ? why : "too many URLs");
            rc = -1;
            break;
        }
        m->peer_urls.count++;
    }
    if (rc == 0 && cfg->initial_cluster_count == 0) {
        fprintf(err, "coord: --initial-cluster: no member given\n");
        rc = -1;
    }
    free(copy);
    return rc;
}

static int parse_int(const char *flag, const char *value, int64_t min, int64_t max, int64_t *out,
                     FILE *err)
{
    char *end;
    errno = 0;
    long long v = strtoll(value, &end, 10);
    if (errno || end == value || *end != '\0') {
        fprintf(err, "coord: invalid value \"%s\" for flag --%s: not an integer\n", value, flag);
        return -1;
    }
    if (v < min || v > max) {
        fprintf(err,
                "coord: invalid value %s for flag --%s: must be from %" PRId64 " to %" PRId64 "\n",
                value, flag, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* A Go duration ("10m", "1m30s", "1.5s", "100ms"), in whole milliseconds (at least 1). */
static int parse_duration_ms(const char *flag, const char *value, int64_t *out, FILE *err)
{
    static const struct {
        const char *unit;
        double ms;
    } units[] = {{"ns", 1e-6}, {"us", 1e-3}, {"\xc2\xb5s", 1e-3}, {"ms", 1},
                 {"s", 1e3},   {"m", 6e4},   {"h", 3.6e6}};
    const char *p = value;
    double total = 0;
    while (*p) {
        char *end;
        errno = 0;
        double n = strtod(p, &end);
        if (errno || end == p || n < 0) goto fail_parse;
        size_t best = 0, best_len = 0;
        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
            size_t len = strlen(units[i].unit);
            if (strncmp(end, units[i].unit, len) == 0 && len > best_len) best = i, best_len = len;
        }
        if (!best_len) goto fail_parse;
        total += n * units[best].ms;
        p = end + best_len;
    }
    if (p == value || total < 1 || total > 9.2e15) goto fail_parse;
    *out = (int64_t)total;
    return 0;
fail_parse:
    fprintf(err, "coord: invalid value \"%s\" for flag --%s: not a duration of 1ms or more\n",
            value, flag);
    return -1;
}

static int set_defaults(coord_config *cfg, FILE *err)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->name = strdup("default");
    cfg->initial_cluster_token = strdup("etcd-cluster");
    cfg->initial_cluster_state_new = true;
    cfg->max_request_bytes = 1572864;
    cfg->max_txn_ops = 128;
    cfg->heartbeat_ms = 100;
    cfg->election_ms = 1000;
    cfg->snapshot_count = 100000;
    cfg->log_level = LOG_INFO;
    cfg->watch_progress_notify_ms = 10 * 60 * 1000;
    if (!cfg->name || !cfg->initial_cluster_token) return -1;
    if (url_list_parse("listen-client-urls", "http://localhost:2379", &cfg->listen_client_urls,
                       err) ||
        url_list_parse("advertise-client-urls", "http://localhost:2379",
                       &cfg->advertise_client_urls, err) ||
        url_list_parse("listen-peer-urls", "http://localhost:2380", &cfg->listen_peer_urls, err) ||
        url_list_parse("initial-advertise-peer-urls", "http://localhost:2380",
                       &cfg->initial_advertise_peer_urls, err))
        return -1;
    return 0;
}

static bool same_urls(const config_url_list *a, const config_url_list *b)
{
    if (a->count != b->count) return false;
    for (size_t i = 0; i < a->count; i++) {
        bool found = false;
        for (size_t j = 0; j < b->count && !found; j++)
            found = strcmp(a->urls[i].url, b->urls[j].url) == 0;
        if (!found) return false;
    }
    return true;
}

/* The rules etcd checks once all flags are read. */
static int validate(coord_config *cfg, bool listen_client_set, bool advertise_client_set,
                    bool initial_cluster_set, FILE *err)
{
    if (listen_client_set && !advertise_client_set) {
        fprintf(err, "coord: --advertise-client-urls is required when --listen-client-urls is "
                     "set explicitly\n");
        return -1;
    }
    if (!initial_cluster_set) {
        /* etcd's default: "<name>=<each initial-advertise-peer-url>". */
        members_free(cfg);
        config_member *m = &cfg->initial_cluster[0];
        memset(m, 0, sizeof(*m));
        m->name = strdup(cfg->name);
        if (!m->name) return -1;
        cfg->initial_cluster_count = 1;
        for (size_t i = 0; i < cfg->initial_advertise_peer_urls.count; i++) {
            config_url *src = &cfg->initial_advertise_peer_urls.urls[i];
            config_url *dst = &m->peer_urls.urls[m->peer_urls.count++];
            dst->url = strdup(src->url);
            dst->host = strdup(src->host);
            dst->port = src->port;
            if (!dst->url || !dst->host) return -1;
        }
    }
    const config_member *self = NULL;
    for (size_t i = 0; i < cfg->initial_cluster_count; i++)
        if (strcmp(cfg->initial_cluster[i].name, cfg->name) == 0) self = &cfg->initial_cluster[i];
    if (!self) {
        fprintf(err,
                "coord: couldn't find local name \"%s\" in the initial cluster "
                "configuration\n",
                cfg->name);
        return -1;
    }
    if (!same_urls(&self->peer_urls, &cfg->initial_advertise_peer_urls)) {
        fprintf(err,
                "coord: --initial-cluster has %s=%s but missing from "
                "--initial-advertise-peer-urls=%s\n",
                cfg->name, self->peer_urls.urls[0].url,
                cfg->initial_advertise_peer_urls.urls[0].url);
        return -1;
    }
    if (cfg->election_ms < 5 * cfg->heartbeat_ms) {
        fprintf(err,
                "coord: --election-timeout[%" PRId64 "ms] should be at least as 5 times as "
                "--heartbeat-interval[%" PRId64 "ms]\n",
                cfg->election_ms, cfg->heartbeat_ms);
        return -1;
    }
    if (!cfg->data_dir) {
        size_t n = strlen(cfg->name) + sizeof(".coord");
        cfg->data_dir = malloc(n);
        if (!cfg->data_dir) return -1;
        snprintf(cfg->data_dir, n, "%s.coord", cfg->name);
    }
    return 0;
}

enum config_result config_parse(coord_config *cfg, int argc, char **argv, FILE *out, FILE *err)
{
    if (set_defaults(cfg, err) != 0) goto fail_free_config;
    bool listen_client_set = false, advertise_client_set = false, initial_cluster_set = false;
    opterr = 0;
    optind = 1;
    for (;;) {
        int idx = -1;
        int c = getopt_long_only(argc, argv, "h", flag_table, &idx);
        if (c == -1) break;
        const char *flag = idx >= 0 ? flag_table[idx].name : "";
        int64_t v = 0;
        switch (c) {
        case F_NAME:
            free(cfg->name);
            cfg->name = strdup(optarg);
            break;
        case F_DATA_DIR:
            free(cfg->data_dir);
            cfg->data_dir = strdup(optarg);
            break;
        case F_LISTEN_CLIENT:
            listen_client_set = true;
            if (url_list_parse(flag, optarg, &cfg->listen_client_urls, err)) goto fail_free_config;
            break;
        case F_ADVERTISE_CLIENT:
            advertise_client_set = true;
            if (url_list_parse(flag, optarg, &cfg->advertise_client_urls, err))
                goto fail_free_config;
            break;
        case F_LISTEN_PEER:
            if (url_list_parse(flag, optarg, &cfg->listen_peer_urls, err)) goto fail_free_config;
            break;
        case F_ADVERTISE_PEER:
            if (url_list_parse(flag, optarg, &cfg->initial_advertise_peer_urls, err))
                goto fail_free_config;
            break;
        case F_INITIAL_CLUSTER:
            initial_cluster_set = true;
            if (initial_cluster_parse(cfg, optarg, err)) goto fail_free_config;
            break;
        case F_INITIAL_STATE:
            if (strcmp(optarg, "new") == 0) {
                cfg->initial_cluster_state_new = true;
            } else if (strcmp(optarg, "existing") == 0) {
                cfg->initial_cluster_state_new = false;
            } else {
                fprintf(err,
                        "coord: invalid value \"%s\" for flag --initial-cluster-state: "
                        "valid values are \"new\", \"existing\"\n",
                        optarg);
                goto fail_free_config;
            }
            break;
        case F_INITIAL_TOKEN:
            free(cfg->initial_cluster_token);
            cfg->initial_cluster_token = strdup(optarg);
            break;
        case F_MAX_REQUEST_BYTES:
            /* The gRPC limit is this plus 512 KiB and must fit an int. */
            if (parse_int(flag, optarg, 1, INT32_MAX - 512 * 1024, &cfg->max_request_bytes, err))
                goto fail_free_config;
            break;
        case F_MAX_TXN_OPS:
            if (parse_int(flag, optarg, 1, INT32_MAX, &cfg->max_txn_ops, err))
                goto fail_free_config;
            break;
        case F_HEARTBEAT:
            if (parse_int(flag, optarg, 1, 50000, &cfg->heartbeat_ms, err)) goto fail_free_config;
            break;
        case F_ELECTION:
            if (parse_int(flag, optarg, 1, 50000, &cfg->election_ms, err)) goto fail_free_config;
            break;
        case F_SNAPSHOT_COUNT:
            if (parse_int(flag, optarg, 1, INT64_MAX, &v, err)) goto fail_free_config;
            cfg->snapshot_count = (uint64_t)v;
            break;
        case F_QUOTA:
            if (parse_int(flag, optarg, INT64_MIN, INT64_MAX, &cfg->quota_backend_bytes, err))
                goto fail_free_config;
            break;
        case F_LOG_LEVEL:
            if (strcmp(optarg, "debug") == 0)
                cfg->log_level = LOG_DEBUG;
            else if (strcmp(optarg, "info") == 0)
                cfg->log_level = LOG_INFO;
            else if (strcmp(optarg, "warn") == 0)
                cfg->log_level = LOG_WARN;
            else if (strcmp(optarg, "error") == 0)
                cfg->log_level = LOG_ERROR;
            else {
                fprintf(err,
                        "coord: invalid value \"%s\" for flag --log-level: valid values are "
                        "debug, info, warn, error\n",
                        optarg);
                goto fail_free_config;
            }
            break;
        case F_WATCH_PROGRESS:
            if (parse_duration_ms(flag, optarg, &cfg->watch_progress_notify_ms, err))
                goto fail_free_config;
            break;
        case F_VERSION:
            fprintf(out, "coord Version: %s\nAPI (etcd) Version: %s\n", COORD_VERSION,
                    COORD_ETCD_VERSION);
            config_free(cfg);
            return CONFIG_EXIT;
        case 'h':
        case F_HELP:
            fputs(usage_text, out);
            config_free(cfg);
            return CONFIG_EXIT;
        case ':':
            fprintf(err, "coord: flag needs an argument: %s\n", argv[optind - 1]);
            goto fail_usage;
        default:
            fprintf(err, "coord: flag provided but not defined: %s\n", argv[optind - 1]);
            goto fail_usage;
        }
        if ((c == F_NAME && !cfg->name) || (c == F_DATA_DIR && !cfg->data_dir) ||
            (c == F_INITIAL_TOKEN && !cfg->initial_cluster_token))
            goto fail_free_config;
    }
    if (optind < argc) {
        fprintf(err, "coord: '%s' is not a valid flag\n", argv[optind]);
        goto fail_usage;
    }
    if (validate(cfg, listen_client_set, advertise_client_set, initial_cluster_set, err) != 0)
        goto fail_free_config;
    return CONFIG_OK;

fail_usage:
    fprintf(err, "Try 'coord --help' for the list of flags.\n");
fail_free_config:
    config_free(cfg);
    return CONFIG_ERROR;
}

void config_free(coord_config *cfg)
{
    free(cfg->name);
    free(cfg->data_dir);
    free(cfg->initial_cluster_token);
    url_list_free(&cfg->listen_client_urls);
    url_list_free(&cfg->advertise_client_urls);
    url_list_free(&cfg->listen_peer_urls);
    url_list_free(&cfg->initial_advertise_peer_urls);
    members_free(cfg);
    memset(cfg, 0, sizeof(*cfg));
}
