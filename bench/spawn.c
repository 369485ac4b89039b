/* Runs one benchmark process and measures it from outside: wall time from fork to exit, and peak
 * memory, user and system time from wait4. Writes "wall_seconds peak_rss_kb user_seconds
 * system_seconds exit_code" to REPORT_FILE; the child keeps this process's stdin/stdout/stderr.
 *
 *   spawn REPORT_FILE COMMAND [ARGS...]
 *
 * Why not spawn from Python: Linux counts the memory of the process that calls exec into the
 * child's peak (ru_maxrss), so a child forked by the driver (tens of MB with numpy loaded) would
 * report at least the driver's size. This process is small (its anonymous memory, the part a fork
 * copies, is a few hundred KB), and it is started before the clock starts.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* wait4 */
#endif
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval t) { return (double)t.tv_sec + 1e-6 * (double)t.tv_usec; }

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: spawn REPORT_FILE COMMAND [ARGS...]\n");
        return 2;
    }
    FILE *report = fopen(argv[1], "w");
    if (!report) {
        fprintf(stderr, "spawn: cannot write %s: %s\n", argv[1], strerror(errno));
        return 2;
    }
    double start = now();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "spawn: fork: %s\n", strerror(errno));
        return 2;
    }
    if (pid == 0) {
        execvp(argv[2], argv + 2);
        fprintf(stderr, "spawn: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int status = 0;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "spawn: wait4: %s\n", strerror(errno));
            return 2;
        }
    double wall = now() - start;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(report, "%.6f %ld %.6f %.6f %d\n", wall, usage.ru_maxrss, seconds(usage.ru_utime), seconds(usage.ru_stime), code);
    return fclose(report) ? 2 : code;
}
