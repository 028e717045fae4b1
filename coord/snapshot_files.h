/* snapshot_files: the file-system side of snapshots — a snapshot is a directory of plain files
 * (a RocksDB checkpoint) that is listed, shipped file by file, written on the other side, made
 * durable and finally removed.
 *
 * Contract: every function returns 0 or -1 with errno set (or the error of the call that
 * failed); none follows a symbolic link out of the tree it was given. Names of files inside a
 * snapshot are checked with snapshot_file_name_ok before anything is created from them, since
 * they arrive from the network.
 */
#ifndef COORD_SNAPSHOT_FILES_H
#define COORD_SNAPSHOT_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAPSHOT_FILE_NAME_MAX 255

typedef struct snapshot_file {
    char name[SNAPSHOT_FILE_NAME_MAX + 1];
    uint64_t size;
} snapshot_file;

/* The regular files directly in dir, by name; *files is malloc'd (NULL when there are none). A
 * subdirectory or anything else that is not a regular file fails the listing (a checkpoint has
 * none). */
int snapshot_files_list(const char *dir, snapshot_file **files, size_t *n);

/* A plain file name: 1..255 bytes of [A-Za-z0-9._-], not starting with '.'. */
bool snapshot_file_name_ok(const char *name, size_t len);

/* mkdir -p (mode 0700). */
int snapshot_files_mkdirs(const char *dir);
/* rm -rf; a path that does not exist is not an error. */
int snapshot_files_remove(const char *path);
/* fsync of every regular file directly in dir, then of dir itself. */
int snapshot_files_sync_dir(const char *dir);
/* fsync of the directory that holds path (after a rename or create inside it). */
int snapshot_files_sync_parent(const char *path);

#endif
