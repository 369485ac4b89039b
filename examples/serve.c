/* Shipping a trained model inside a program: load it once, then answer prediction requests.
 * Reads one sample per line from standard input (comma-separated features) and prints the
 * model's outputs, one line per sample. A predictor does the work, so a request allocates
 * nothing.
 *
 *   build/nn train ... --save model.nn
 *   tail -n +2 data/breast_cancer_test.csv | cut -d, -f1-30 | build/examples/serve model.nn
 */
#include <nn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 2) return fprintf(stderr, "usage: serve MODEL < samples.csv\n"), 2;
    nn_model *model = NULL;
    nn_predictor *predictor = NULL;
    if (nn_model_load(argv[1], &model) || nn_predictor_new(model, 1, &predictor)) {
        fprintf(stderr, "serve: %s\n", nn_last_error());
        nn_model_free(model);
        return 1;
    }
    int64_t inputs = nn_predictor_input_size(predictor), outputs = nn_predictor_output_size(predictor);
    float *x = malloc((size_t)inputs * sizeof *x), *y = malloc((size_t)outputs * sizeof *y);
    char line[65536];
    int status = x && y ? 0 : 1;
    for (long row = 1; !status && fgets(line, sizeof line, stdin); row++) {
        char *p = line, *end;
        for (int64_t i = 0; i < inputs; i++, p = end + (*end == ',')) {
            x[i] = strtof(p, &end);
            if (end == p) {
                fprintf(stderr, "serve: line %ld: expected %lld numbers\n", row, (long long)inputs);
                status = 1;
                break;
            }
        }
        if (status || nn_predictor_run(predictor, x, 1, y)) break;
        for (int64_t j = 0; j < outputs; j++) printf("%s%.6g", j ? "," : "", (double)y[j]);
        printf("\n");
    }
    free(x);
    free(y);
    nn_predictor_free(predictor);
    nn_model_free(model);
    return status;
}
