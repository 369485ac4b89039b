/* nn summary MODEL: Keras's layer table of a saved model. */
#include "cli.h"

static const char summary_help[] =
    "usage: nn summary MODEL\n"
    "\n"
    "Prints the layer table of a saved model: layer (type), output shape, parameters, totals.\n";

int cmd_summary(int argc, char **argv) {
    cli_args a;
    if (cli_parse(argc, argv, (const cli_option[]){ { NULL, false } }, &a)) return 2;
    if (a.help) return fputs(summary_help, stdout), 0;
    if (a.npositional != 1) return cli_fail("summary", "give exactly one MODEL file (see 'nn summary --help')"), 2;
    nn_model *m = NULL;
    if (nn_model_load(a.positional[0], &m)) return cli_fail_nn("summary");
    nn_model_summary(m, stdout);
    nn_model_free(m);
    return 0;
}
