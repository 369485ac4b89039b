/* The `nn` command: the engine for people who would rather not write C. */
#include "cli.h"

#include <string.h>

static const char usage[] =
    "usage: nn <command> [options]\n"
    "\n"
    "Neural networks in C, shaped like Keras.\n"
    "\n"
    "commands:\n"
    "  demo       train the blog's model on the bundled Breast Cancer data and evaluate it\n"
    "  train      train a model described with --layers on CSV, .npy, .npz or IDX data\n"
    "  evaluate   evaluate a saved model on labelled data\n"
    "  predict    write a saved model's predictions to a .csv or .npy file\n"
    "  summary    print a saved model's layer table\n"
    "  data       describe an array file: shape, dtype, per-column statistics\n"
    "\n"
    "'nn <command> --help' describes each command's options.\n";

int main(int argc, char **argv) {
    static const struct { const char *name; int (*run)(int, char **); } commands[] = {
        { "demo", cmd_demo }, { "train", cmd_train }, { "evaluate", cmd_evaluate },
        { "predict", cmd_predict }, { "summary", cmd_summary }, { "data", cmd_data },
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("nn %s\n", NN_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "nn: unknown command '%s' (known: demo, train, evaluate, predict, summary, data)\n", argv[1]);
    return 2;
}
