/* Scratch files for test programs: a directory of this run's own under /tmp (so test programs
 * of several checkouts can run at once), removed with its contents at exit, and whole-file
 * reads and writes. For test programs only. */
#ifndef NN_TEST_SCRATCH_H
#define NN_TEST_SCRATCH_H

#include "test.h"

#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char scratch_dir_[64];

/* Removes dir and everything in it. */
static inline void scratch_remove_tree_(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[512];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (n > 0 && (size_t)n < sizeof path && remove(path) != 0) scratch_remove_tree_(path); /* a non-empty sub-directory */
    }
    if (d) closedir(d);
    rmdir(dir);
}

static inline void scratch_remove_(void) { scratch_remove_tree_(scratch_dir_); }

/* This run's scratch directory, made at the first call. Without one the tests cannot run: it
 * aborts the program. */
static inline const char *scratch_dir(void) {
    if (!scratch_dir_[0]) {
        snprintf(scratch_dir_, sizeof scratch_dir_, "/tmp/nn_test_XXXXXX");
        if (!mkdtemp(scratch_dir_)) {
            perror("mkdtemp /tmp/nn_test_XXXXXX");
            abort();
        }
        atexit(scratch_remove_);
    }
    return scratch_dir_;
}

/* A path named `name` inside the scratch directory, valid for the next 7 calls. */
static inline const char *scratch(const char *name) {
    static char paths[8][256];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", scratch_dir(), name);
    return p;
}

/* The whole file in a malloc'd buffer with a NUL after the end (so text reads as a string), its
 * length in *size; NULL (and *size 0) if it cannot be read. */
static inline void *read_bytes(const char *path, size_t *size) {
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    char *b = n >= 0 && fseek(f, 0, SEEK_SET) == 0 ? malloc((size_t)n + 1) : NULL;
    if (b) {
        *size = fread(b, 1, (size_t)n, f);
        b[*size] = '\0';
    }
    fclose(f);
    return b;
}

/* Writes `size` bytes to `path` (checked); returns path. */
static inline const char *write_bytes(const char *path, const void *bytes, size_t size) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f) {
        CHECK(fwrite(bytes, 1, size, f) == size);
        fclose(f);
    }
    return path;
}

#endif
