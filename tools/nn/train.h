/* The training job shared by nn train and nn demo. */
#ifndef NN_CLI_TRAIN_H
#define NN_CLI_TRAIN_H

#include "cli.h"

typedef struct training_job {
    const nn_dataset *train, *validation, *test; /* validation and test may be NULL */
    const char *layers, *model, *optimizer, *loss, *metrics, *save, *history; /* layers or model */
    int epochs, batch_size, verbose;
    double validation_split;
    uint64_t seed;
    bool json;
} training_job;

/* Builds, compiles, fits (then evaluates the test data and saves, when given): prints progress
 * and, with json, the result object. *trained (if not NULL) receives the model on success.
 * Returns the exit status. */
int run_training(const char *command, const training_job *job, nn_model **trained);
/* The options demo and train share (epochs, batch size, seed, verbosity, json, save). */
int parse_common_training(const cli_args *a, training_job *job);
double nn_now_seconds(void);

#endif
