/* config: the server's settings, from etcd-compatible command-line flags.
 *
 * Flags take etcd's names, defaults and meanings, so a script that starts etcd starts coord by
 * changing the binary's name. Both `--flag value` and `--flag=value` work (and one dash, as Go's
 * flag package allows). Unknown flags and bad values are errors: config_parse prints a clear
 * message naming the flag and returns CONFIG_ERROR; --help and --version return CONFIG_EXIT.
 */
#ifndef COORD_CONFIG_H
#define COORD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_URLS    16
#define CONFIG_MAX_MEMBERS 16

typedef struct config_url {
    char *url;  /* as given, e.g. "http://127.0.0.1:2379" */
    char *host; /* "127.0.0.1" ("localhost" stays as given) */
    int port;
} config_url;

typedef struct config_url_list {
    config_url urls[CONFIG_MAX_URLS];
    size_t count;
} config_url_list;

typedef struct config_member {
    char *name;
    config_url_list peer_urls;
} config_member;

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

typedef struct coord_config {
    char *name;     /* --name, default "default" */
    char *data_dir; /* --data-dir, default "<name>.coord" */
    config_url_list listen_client_urls;
    config_url_list advertise_client_urls;
    config_url_list listen_peer_urls;
    config_url_list initial_advertise_peer_urls;
    config_member initial_cluster[CONFIG_MAX_MEMBERS];
    size_t initial_cluster_count;
    bool initial_cluster_state_new; /* --initial-cluster-state new|existing */
    char *initial_cluster_token;    /* default "etcd-cluster" */
    int64_t max_request_bytes;      /* default 1.5 MiB */
    int64_t max_txn_ops;            /* default 128 */
    int64_t heartbeat_ms;           /* default 100 */
    int64_t election_ms;            /* default 1000 */
    uint64_t snapshot_count;        /* default 100000 */
    int64_t quota_backend_bytes;    /* default 0 = 2 GiB */
    enum log_level log_level;       /* default info */
    /* --experimental-watch-progress-notify-interval, default 10 minutes */
    int64_t watch_progress_notify_ms;
} coord_config;

enum config_result { CONFIG_OK = 0, CONFIG_EXIT = 1, CONFIG_ERROR = 2 };

/* Fills cfg from argv (defaults for what is absent). Messages go to err; help and version to
 * out. On CONFIG_OK the caller owns cfg and frees it with config_free. */
enum config_result config_parse(coord_config *cfg, int argc, char **argv, FILE *out, FILE *err);
void config_free(coord_config *cfg);

/* Parses one "scheme://host:port" URL. Returns 0, or -1 with a reason in why. */
int config_parse_url(const char *s, config_url *u, const char **why);

#endif
