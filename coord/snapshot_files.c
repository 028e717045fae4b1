/* snapshot_files: directory helpers for snapshots. Contract in snapshot_files.h. */
#include "snapshot_files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int by_name(const void *a, const void *b)
{
    return strcmp(((const snapshot_file *)a)->name, ((const snapshot_file *)b)->name);
}

int snapshot_files_list(const char *dir, snapshot_file **files, size_t *n)
{
    *files = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return -1;
    snapshot_file *v = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    int rc = 0;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        struct stat sb;
        if (fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0) goto fail;
        if (!S_ISREG(sb.st_mode) || strlen(e->d_name) > SNAPSHOT_FILE_NAME_MAX) {
            errno = EINVAL;
            goto fail;
        }
        if (count == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            snapshot_file *nv = realloc(v, ncap * sizeof(*nv));
            if (!nv) goto fail;
            v = nv;
            cap = ncap;
        }
        strcpy(v[count].name, e->d_name);
        v[count].size = (uint64_t)sb.st_size;
        count++;
        errno = 0;
    }
    if (errno != 0) goto fail;
    closedir(d);
    if (count) qsort(v, count, sizeof(*v), by_name);
    *files = v;
    *n = count;
    return rc;

fail:;
    int saved = errno;
    closedir(d);
    free(v);
    errno = saved;
    return -1;
}

bool snapshot_file_name_ok(const char *name, size_t len)
{
    if (len == 0 || len > SNAPSHOT_FILE_NAME_MAX || name[0] == '.') return false;
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

int snapshot_files_mkdirs(const char *dir)
{
    char *path = strdup(dir);
    if (!path) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) goto fail_free_path;
        *p = '/';
    }
    if (mkdir(path, 0700) != 0 && errno != EEXIST) goto fail_free_path;
    free(path);
    return 0;
fail_free_path:;
    int saved = errno;
    free(path);
    errno = saved;
    return -1;
}

static int remove_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int rc = type == FTW_DP ? rmdir(path) : unlink(path);
    return rc != 0 && errno != ENOENT ? -1 : 0;
}

int snapshot_files_remove(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0) return errno == ENOENT ? 0 : -1;
    /* Depth first (files before their directory), never crossing a symbolic link. */
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

static int sync_path(const char *path, int flags)
{
    int fd = open(path, flags | O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int snapshot_files_sync_dir(const char *dir)
{
    snapshot_file *files;
    size_t n;
    if (snapshot_files_list(dir, &files, &n) != 0) return -1;
    int rc = 0;
    size_t dlen = strlen(dir);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *p = malloc(dlen + 2 + strlen(files[i].name));
        if (!p) {
            rc = -1;
            break;
        }
        memcpy(p, dir, dlen);
        p[dlen] = '/';
        strcpy(p + dlen + 1, files[i].name);
        rc = sync_path(p, 0);
        free(p);
    }
    free(files);
    if (rc == 0) rc = sync_path(dir, O_DIRECTORY);
    return rc;
}

int snapshot_files_sync_parent(const char *path)
{
    char *copy = strdup(path);
    if (!copy) return -1;
    char *slash = strrchr(copy, '/');
    int rc;
    if (!slash)
        rc = sync_path(".", O_DIRECTORY);
    else if (slash == copy)
        rc = sync_path("/", O_DIRECTORY);
    else {
        *slash = '\0';
        rc = sync_path(copy, O_DIRECTORY);
    }
    free(copy);
    return rc;
}
