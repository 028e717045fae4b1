/* raft_util: error names, entry arrays, log lines, the seeded generator and config defaults. */
#include "raft_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *raft_strerror(int err)
{
    switch (err) {
    case RAFT_OK:
        return "ok";
    case RAFT_ERR_NOMEM:
        return "out of memory";
    case RAFT_ERR_COMPACTED:
        return "requested index is compacted";
    case RAFT_ERR_UNAVAILABLE:
        return "requested index is unavailable";
    case RAFT_ERR_SNAPSHOT_TEMPORARILY_UNAVAILABLE:
        return "snapshot temporarily unavailable";
    case RAFT_ERR_STORAGE:
        return "storage failure";
    case RAFT_ERR_DROPPED:
        return "dropped: no leader or leadership transfer in progress";
    case RAFT_ERR_CONF_PENDING:
        return "a membership change is pending";
    case RAFT_ERR_INVALID:
        return "invalid argument";
    case RAFT_ERR_DECODE:
        return "malformed message";
    case RAFT_ERR_BUSY:
        return "ready not yet advanced";
    case RAFT_ERR_CORRUPT:
        return "raft invariant violated";
    case RAFT_ERR_TOO_LARGE:
        return "value too large";
    }
    return "unknown error";
}

const char *raft_role_name(int role)
{
    switch (role) {
    case RAFT_FOLLOWER:
        return "follower";
    case RAFT_PRE_CANDIDATE:
        return "pre-candidate";
    case RAFT_CANDIDATE:
        return "candidate";
    case RAFT_LEADER:
        return "leader";
    }
    return "unknown";
}

void *raft_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t ncap = *cap ? *cap * 2 : 8;
    while (ncap < need) ncap *= 2;
    void *np = realloc(p, ncap * elem);
    if (!np) return NULL;
    *cap = ncap;
    return np;
}

int raft_entries_append(raft_entries *out, uint64_t term, uint64_t index, uint8_t type,
                        const void *data, size_t len)
{
    if (len > UINT32_MAX) return RAFT_ERR_TOO_LARGE;
    raft_entry *v = raft_grow(out->v, &out->cap, out->n + 1, sizeof(*v));
    if (!v) return RAFT_ERR_NOMEM;
    out->v = v;
    uint8_t *copy = NULL;
    if (len > 0) {
        copy = malloc(len);
        if (!copy) return RAFT_ERR_NOMEM;
        memcpy(copy, data, len);
    }
    v[out->n++] = (raft_entry){
        .term = term, .index = index, .type = type, .len = (uint32_t)len, .data = copy};
    return RAFT_OK;
}

void raft_entries_free(raft_entries *es)
{
    for (size_t i = 0; i < es->n; i++) free(es->v[i].data);
    free(es->v);
    *es = (raft_entries){0};
}

void raft_snapshot_free(raft_snapshot *s)
{
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

void raft_config_init(raft_config *cfg)
{
    *cfg = (raft_config){
        .election_tick = 10,
        .heartbeat_tick = 1,
        .max_msg_bytes = 1u << 20,
        .max_inflight_msgs = 256,
        .pre_vote = true,
        .check_quorum = true,
        .log_level = RAFT_LOG_INFO,
    };
}

void rlog(const raft *r, int level, const char *fmt, ...)
{
    if (!r->cfg.log || level < r->cfg.log_level) return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    r->cfg.log(r->cfg.log_ctx, r->id, level, line);
}

/* splitmix64: small, seedable, and good enough for election jitter. */
uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
