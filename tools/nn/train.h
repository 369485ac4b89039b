/* The training job shared by nn train and nn demo. */
#ifndef NN_CLI_TRAIN_H
#define NN_CLI_TRAIN_H

#include "cli.h"

typedef struct training_job {
    const nn_dataset *train;
    const char *layers, *optimizer, *loss, *metrics, *target;
    const char *validation_data, *test_data, *save;
    int epochs, batch_size, verbose;
    double validation_split;
    uint64_t seed;
    bool json;
} training_job;

extern const cli_option train_options[];

/* Builds, compiles, fits (and evaluates --test-data, saves): prints progress and, with json,
 * the result object. *trained (if not NULL) receives the model on success. Returns the exit
 * status. */
int run_training(const char *command, const training_job *job, nn_model **trained, nn_metrics *test);
int parse_common_training(const cli_args *a, training_job *job);
int print_result_json(const nn_history *history, const nn_metrics *test, double fit_seconds);
double nn_now_seconds(void);

#endif
