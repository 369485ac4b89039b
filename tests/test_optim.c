/* Tests for src/optim/optimizers.c.
 *
 * The expected values were made by real Keras 3.15 (TensorFlow backend, float32) with
 * tests/gen/make_optim_ref.py and pasted here: each case applies the optimizer for 3 steps to
 * a 5-element and a 3-element variable with the fixed gradients below. */
#include "../src/core/threads.h"
#include "../src/nn_internal.h"
#include "test.h"
#include "failing_alloc.h"

#define NVALUES 8
#define NSTEPS 3
/* The two variables sit at offsets 1 and 7 of an 11-float buffer; the gaps must not change. */
#define BUFFER 11
#define STRIDE (BUFFER + 2)
#define MAX_TEST_SLOTS 4
static const nn_var_span VARS[2] = { { 1, 5 }, { 7, 3 } };
static const size_t POSITION[NVALUES] = { 1, 2, 3, 4, 5, 7, 8, 9 };
static const size_t GAPS[] = { 0, 6, 10 };
static const float GAP_VALUE = 7.0f;

/* INITIAL and GRADS as in tests/gen/make_optim_ref.py, both variables concatenated. */
static const float INITIAL[NVALUES] = { 0.5f, -1.25f, 2.0f, -0.75f, 0.1f, 1.5f, -0.3f, 0.8f };
static const float GRADS[NSTEPS][NVALUES] = {
    { 0.2f, -0.4f, 1.5f, 0.0f, -2.0f, 0.3f, 0.05f, -1.0f },
    { 0.01f, -0.02f, 0.1f, 0.3f, -0.05f, 0.0f, 0.02f, -0.04f },
    { -0.5f, 0.7f, 0.25f, -0.1f, 1.2f, 0.6f, -0.9f, 0.15f },
};

typedef struct optim_case {
    const char *name;
    nn_optimizer_opts opts;
    float expected[NSTEPS][NVALUES]; /* the variables after each step */
} optim_case;

/* Printed by tests/gen/make_optim_ref.py. */
static const optim_case CASES[] = {
    { "sgd", { 0 },
     { { 0.497999996f, -1.24600005f, 1.98500001f, -0.75f, 0.120000005f, 1.49699998f, -0.300500005f, 0.810000002f },
      { 0.497900009f, -1.24580002f, 1.98399997f, -0.753000021f, 0.120500006f, 1.49699998f, -0.300700009f, 0.810400009f },
      { 0.502900004f, -1.25279999f, 1.98149991f, -0.752000034f, 0.108500004f, 1.49099994f, -0.291700006f, 0.808899999f } } },
    { "sgd", { .momentum = 0.9 },
     { { 0.497999996f, -1.24600005f, 1.98500001f, -0.75f, 0.120000005f, 1.49699998f, -0.300500005f, 0.810000002f },
      { 0.496100008f, -1.24220002f, 1.97049999f, -0.753000021f, 0.138500005f, 1.49430001f, -0.301149994f, 0.819400012f },
      { 0.499390006f, -1.24577999f, 1.95494998f, -0.754700005f, 0.143150002f, 1.48587f, -0.292734981f, 0.826359987f } } },
    { "sgd", { .momentum = 0.9, .nesterov = true },
     { { 0.496199995f, -1.24240005f, 1.97150004f, -0.75f, 0.137999997f, 1.49430001f, -0.300950021f, 0.819000006f },
      { 0.494389981f, -1.23878002f, 1.95745003f, -0.755699992f, 0.155149996f, 1.49187005f, -0.301735014f, 0.827859998f },
      { 0.502350986f, -1.24900198f, 1.94095504f, -0.756229997f, 0.147334993f, 1.47828305f, -0.285161525f, 0.832624018f } } },
    { "sgd", { .learning_rate = 0.1, .clipnorm = 0.5 },
     { { 0.496062517f, -1.24212503f, 1.97046876f, -0.75f, 0.139374971f, 1.48564911f, -0.302391827f, 0.847836494f },
      { 0.49506253f, -1.24012506f, 1.96046877f, -0.779999971f, 0.144374967f, 1.48564911f, -0.304391831f, 0.851836503f },
      { 0.511719942f, -1.2634455f, 1.95214009f, -0.776668489f, 0.104397163f, 1.45817697f, -0.263183653f, 0.844968498f } } },
    { "sgd", { .learning_rate = 0.1, .clipvalue = 0.3 },
     { { 0.479999989f, -1.22000003f, 1.97000003f, -0.75f, 0.129999995f, 1.47000003f, -0.305000007f, 0.830000043f },
      { 0.479000002f, -1.21800005f, 1.96000004f, -0.779999971f, 0.13499999f, 1.47000003f, -0.307000011f, 0.834000051f },
      { 0.509000003f, -1.24800003f, 1.93500006f, -0.769999981f, 0.104999989f, 1.44000006f, -0.27700001f, 0.819000065f } } },
    { "sgd", { .learning_rate = 0.1, .global_clipnorm = 0.5 },
     { { 0.496358812f, -1.24271762f, 1.97269118f, -0.75f, 0.136411816f, 1.49453819f, -0.300910294f, 0.818205893f },
      { 0.495358825f, -1.24071765f, 1.96269119f, -0.779999971f, 0.141411811f, 1.49453819f, -0.302910298f, 0.822205901f },
      { 0.508828163f, -1.25957465f, 1.95595658f, -0.77730608f, 0.109085456f, 1.47837496f, -0.278665543f, 0.818165123f } } },
    { "sgd", { .learning_rate = 0.1, .weight_decay = 0.2 },
     { { 0.469999999f, -1.18500006f, 1.81000006f, -0.735000014f, 0.298000008f, 1.44000006f, -0.298999995f, 0.884000063f },
      { 0.459600002f, -1.15930009f, 1.76380002f, -0.75030005f, 0.297040015f, 1.41120005f, -0.295020014f, 0.870320082f },
      { 0.500407994f, -1.20611417f, 1.70352399f, -0.725294054f, 0.171099216f, 1.32297611f, -0.199119598f, 0.837913692f } } },
    { "adam", { 0 },
     { { 0.499000013f, -1.24900007f, 1.99899995f, -0.75f, 0.100999996f, 1.49900007f, -0.300999939f, 0.800999999f },
      { 0.498293638f, -1.24829364f, 1.99828184f, -0.750744104f, 0.101688445f, 1.49833f, -0.30189845f, 0.801699281f },
      { 0.4986839f, -1.24857724f, 1.9976294f, -0.751087666f, 0.101815864f, 1.49752712f, -0.301302224f, 0.802139044f } } },
    { "adam", { .amsgrad = true, .learning_rate = 0.01 },
     { { 0.490000218f, -1.24000013f, 1.99000013f, -0.75f, 0.109999917f, 1.49000013f, -0.309999317f, 0.809999943f },
      { 0.482936382f, -1.23293626f, 1.9828192f, -0.757441223f, 0.116883099f, 1.48330307f, -0.318984449f, 0.81699264f },
      { 0.486838967f, -1.23577273f, 1.97629476f, -0.760876894f, 0.11815732f, 1.47527373f, -0.313022226f, 0.82139045f } } },
    { "adam", { .learning_rate = 0.01, .beta_1 = 0.8, .beta_2 = 0.9, .epsilon = 0.001 },
     { { 0.490155637f, -1.24007845f, 1.99002099f, -0.75f, 0.109984219f, 1.49010432f, -0.309405178f, 0.809968472f },
      { 0.48341608f, -1.23328328f, 1.98305786f, -0.757577956f, 0.116630264f, 1.48371768f, -0.317814112f, 0.816720486f },
      { 0.488009304f, -1.23693597f, 1.97674835f, -0.760676622f, 0.117003873f, 1.47563517f, -0.311458856f, 0.820563734f } } },
    { "adam", { .learning_rate = 0.01, .clipnorm = 0.5, .weight_decay = 0.1 },
     { { 0.48950088f, -1.23875046f, 1.98800015f, -0.749249995f, 0.109899849f, 1.48850024f, -0.309698641f, 0.80919987f },
      { 0.480685323f, -1.22918534f, 1.97727823f, -0.755941987f, 0.11737483f, 1.48031139f, -0.319301933f, 0.815688193f },
      { 0.484887391f, -1.23187339f, 1.96712863f, -0.76019758f, 0.116850838f, 1.47077155f, -0.31319046f, 0.819550931f } } },
    { "adamw", { 0 },
     { { 0.498998016f, -1.24899507f, 1.99899197f, -0.74999702f, 0.100999594f, 1.49899411f, -0.300998747f, 0.80099678f },
      { 0.498289645f, -1.24828362f, 1.99826586f, -0.750738144f, 0.10168764f, 1.49831808f, -0.301896065f, 0.801692843f },
      { 0.498677909f, -1.24856222f, 1.99760544f, -0.751078725f, 0.10181465f, 1.49750924f, -0.301298618f, 0.802129388f } } },
    { "adamw", { .learning_rate = 0.05, .weight_decay = 0.1, .amsgrad = true },
     { { 0.447501123f, -1.19375074f, 1.94000041f, -0.746249974f, 0.149499595f, 1.44250083f, -0.348496497f, 0.845999479f },
      { 0.409944534f, -1.1524626f, 1.89439595f, -0.779724777f, 0.183168024f, 1.4018029f, -0.391679674f, 0.876732945f },
      { 0.427407712f, -1.16088235f, 1.85230148f, -0.793004572f, 0.188623294f, 1.35464728f, -0.35991016f, 0.894338191f } } },
    { "rmsprop", { 0 },
     { { 0.496837765f, -1.24683774f, 1.99683774f, -0.75f, 0.103162281f, 1.49683774f, -0.303161651f, 0.803162277f },
      { 0.496671319f, -1.24667132f, 1.99661601f, -0.753162265f, 0.103245586f, 1.49683774f, -0.304390013f, 0.803295493f },
      { 0.499646187f, -1.24948263f, 1.99604154f, -0.752113998f, 0.101491891f, 1.49395394f, -0.301232368f, 0.802776039f } } },
    { "rmsprop", { .momentum = 0.5, .centered = true, .rho = 0.8 },
     { { 0.497500032f, -1.24750006f, 1.99749994f, -0.75f, 0.102499999f, 1.49750006f, -0.302499712f, 0.80250001f },
      { 0.496112227f, -1.24611223f, 1.99606562f, -0.752499998f, 0.103818573f, 1.49625003f, -0.304840475f, 0.803860068f },
      { 0.497658044f, -1.24751735f, 1.99483335f, -0.752949774f, 0.10313607f, 1.49314284f, -0.30354625f, 0.804110408f } } },
    { "rmsprop", { .momentum = 0.9 },
     { { 0.496837765f, -1.24683774f, 1.99683774f, -0.75f, 0.103162281f, 1.49683774f, -0.303161651f, 0.803162277f },
      { 0.493825316f, -1.24382532f, 1.99377f, -0.753162265f, 0.106091633f, 1.49399173f, -0.307235479f, 0.806141555f },
      { 0.494088978f, -1.24392545f, 1.99043465f, -0.754960001f, 0.106974356f, 1.48854661f, -0.307744294f, 0.808303475f } } },
    { "adagrad", { 0 },
     { { 0.499465466f, -1.24921548f, 1.99902153f, -0.75f, 0.100987732f, 1.4993118f, -0.300156176f, 0.800953448f },
      { 0.499438763f, -1.24917626f, 1.99895644f, -0.750688255f, 0.101012416f, 1.4993118f, -0.300218523f, 0.800991535f },
      { 0.500239313f, -1.24998438f, 1.99879587f, -0.750464678f, 0.1005027f, 1.49850273f, -0.299276561f, 0.800850034f } } },
    { "adagrad", { .learning_rate = 0.1, .initial_accumulator_value = 0.5 },
     { { 0.472783446f, -1.20076346f, 1.90954661f, -0.75f, 0.194280922f, 1.46094334f, -0.307053477f, 0.881649673f },
      { 0.471422732f, -1.19830239f, 1.90352738f, -0.789056659f, 0.196637288f, 1.46094334f, -0.30987373f, 0.884913921f },
      { 0.527673542f, -1.26356637f, 1.88864672f, -0.77614671f, 0.147411048f, 1.39938462f, -0.231327266f, 0.872763693f } } },
    { "adadelta", { 0 },
     { { 0.499998599f, -1.24999857f, 1.99999857f, -0.75f, 0.100001417f, 1.49999857f, -0.300001413f, 0.800001442f },
      { 0.49999851f, -1.24999845f, 1.99999845f, -0.750001431f, 0.100001469f, 1.49999857f, -0.300002158f, 0.800001502f },
      { 0.500000358f, -1.25000024f, 1.99999809f, -0.750000775f, 0.100000411f, 1.49999678f, -0.300000042f, 0.800001204f } } },
    { "adadelta", { .learning_rate = 1.0, .rho = 0.9, .epsilon = 1e-06 },
     { { 0.496838123f, -1.24683785f, 1.99683774f, -0.75f, 0.103162274f, 1.49683785f, -0.303155988f, 0.803162277f },
      { 0.496602803f, -1.24660254f, 1.99652421f, -0.753162086f, 0.103280082f, 1.49683785f, -0.304888487f, 0.803350687f },
      { 0.500709057f, -1.25048327f, 1.9957304f, -0.751679718f, 0.1008619f, 1.49286306f, -0.300208658f, 0.80263406f } } },
    { "adamax", { 0 },
     { { 0.499000013f, -1.24899995f, 1.99899995f, -0.75f, 0.101000004f, 1.49899995f, -0.300999999f, 0.800999999f },
      { 0.498499513f, -1.24849939f, 1.99849069f, -0.750526309f, 0.101487331f, 1.49852574f, -0.301684886f, 0.801495254f },
      { 0.498742312f, -1.2486881f, 1.99810743f, -0.750735641f, 0.101573296f, 1.4980073f, -0.301339865f, 0.801752567f } } },
    { "adamax", { .learning_rate = 0.02, .beta_2 = 0.5 },
     { { 0.480000019f, -1.23000002f, 1.98000002f, -0.75f, 0.119999997f, 1.48000002f, -0.319999963f, 0.819999993f },
      { 0.460000038f, -1.21000004f, 1.95964921f, -0.760526299f, 0.139473677f, 1.46105266f, -0.34736827f, 0.83978945f },
      { 0.464856118f, -1.21377444f, 1.92904651f, -0.768890381f, 0.142333448f, 1.45068371f, -0.3404679f, 0.860335588f } } },
    { "nadam", { 0 },
     { { 0.498937219f, -1.24893725f, 1.99893725f, -0.75f, 0.10106279f, 1.49893725f, -0.301062793f, 0.801062822f },
      { 0.498814166f, -1.24881423f, 1.9987973f, -0.751021683f, 0.101160429f, 1.49886513f, -0.301509351f, 0.801175714f },
      { 0.499776006f, -1.2497015f, 1.99854016f, -0.750765026f, 0.100678422f, 1.49787462f, -0.300448865f, 0.801096916f } } },
    { "nadam", { .learning_rate = 0.02, .beta_1 = 0.5, .global_clipnorm = 1.0 },
     { { 0.477100819f, -1.22710085f, 1.97710073f, -0.75f, 0.122899219f, 1.47710085f, -0.322899103f, 0.822899222f },
      { 0.471537948f, -1.22153795f, 1.97039592f, -0.77623111f, 0.126703486f, 1.47508955f, -0.343654752f, 0.827764273f },
      { 0.500524819f, -1.24936223f, 1.96156812f, -0.773307323f, 0.107549578f, 1.44581354f, -0.313376009f, 0.822676003f } } },
};

typedef struct long_case {
    const char *name;
    nn_optimizer_opts opts;
    float expected[NVALUES]; /* after LONG_STEPS steps, gradients GRADS[step % 3] */
} long_case;

#define LONG_STEPS 1000
/* Printed by tests/gen/make_optim_ref.py (its LONG_CASES). */
static const long_case LONG_CASES[] = {
    { "nadam", { 0 }, { 0.807996273f, -1.44805777f, 1.30374491f, -1.1132952f, 0.309838831f, 0.727796614f, 0.227708027f, 1.30454409f } },
    { "nadam", { .beta_1 = 0.99 }, { 0.781895995f, -1.43117464f, 1.36136627f, -1.08312905f, 0.29275924f, 0.792839348f, 0.183098242f, 1.26299214f } },
    { "adam", { .amsgrad = true }, { 0.808000207f, -1.44748962f, 1.30031121f, -1.11519647f, 0.312183231f, 0.724492252f, 0.228853941f, 1.30765319f } },
};

/* ------------------------------------------------------------ helpers */

typedef struct rig {
    float params[BUFFER], grads[BUFFER], slots[MAX_TEST_SLOTS * STRIDE];
} rig;

static void rig_init(rig *r, const nn_optimizer *o) {
    for (size_t i = 0; i < BUFFER; i++) r->params[i] = GAP_VALUE;
    for (size_t i = 0; i < NVALUES; i++) r->params[POSITION[i]] = INITIAL[i];
    CHECK(nn_optimizer_slot_count(o) <= MAX_TEST_SLOTS);
    nn_optimizer_init_slots(o, r->slots, STRIDE);
}

/* Gradients in the gaps are nonzero, so a rule or a clip that strays outside the spans shows. */
static void rig_step(rig *r, nn_optimizer *o, const float grads[NVALUES]) {
    for (size_t i = 0; i < BUFFER; i++) r->grads[i] = 1.0f;
    for (size_t i = 0; i < NVALUES; i++) r->grads[POSITION[i]] = grads[i];
    nn_optimizer_apply(o, NULL, VARS, 2, r->params, r->grads, r->slots, STRIDE);
}

static void check_values(const rig *r, const float expected[NVALUES], const char *what,
                         int step, double rel_tol) {
    for (size_t i = 0; i < NVALUES; i++) {
        const double actual = r->params[POSITION[i]], want = expected[i];
        if (!(fabs(actual - want) <= rel_tol * fabs(want)))
            printf("  %s, after step %d, value %zu:\n", what, step, i);
        CHECK_NEAR(actual, want, rel_tol * fabs(want));
    }
    for (size_t i = 0; i < NN_ARRAY_LEN(GAPS); i++) CHECK(r->params[GAPS[i]] == GAP_VALUE);
}

/* Runs the 3 steps of case c on o and compares with Keras after each. */
static void check_case(nn_optimizer *o, const optim_case *c, const char *what) {
    rig r;
    rig_init(&r, o);
    for (int s = 0; s < NSTEPS; s++) {
        rig_step(&r, o, GRADS[s]);
        check_values(&r, c->expected[s], what, s + 1, 1e-6);
    }
    CHECK(o->iterations == NSTEPS);
}

static void case_label(char *buf, size_t size, size_t index, const char *how) {
    snprintf(buf, size, "case %zu (%s, %s)", index, CASES[index].name, how);
}

static nn_value json(const char *text) {
    nn_value v = { .type = NN_VALUE_NULL };
    CHECK(nn_value_from_json(text, strlen(text), &v) == NN_OK);
    return v;
}

static char *config_json(const nn_optimizer *o) {
    nn_value config;
    char *text = NULL;
    CHECK(nn_optimizer_get_config(o, &config) == NN_OK);
    CHECK(nn_value_to_json(&config, &text) == NN_OK);
    nn_value_clear(&config);
    return text;
}

/* nn_optimizer_from_config(name, JSON kwargs): NULL expected, with a message containing
 * `message`. */
static void check_config_error(const char *name, const char *kwargs, const char *message) {
    nn_value v = json(kwargs);
    nn_optimizer *o = nn_optimizer_from_config(name, &v);
    CHECK(o == NULL);
    CHECK_CONTAINS(nn_last_error(), message);
    nn_optimizer_free(o);
    nn_value_clear(&v);
}

static void check_new_error(nn_optimizer *o, const char *message) {
    CHECK(o == NULL);
    CHECK_CONTAINS(nn_last_error(), message);
    nn_optimizer_free(o);
}

/* ------------------------------------------------------------ against Keras */

TEST(test_each_optimizer_matches_keras) {
    for (size_t i = 0; i < NN_ARRAY_LEN(CASES); i++) {
        char what[96];
        case_label(what, sizeof what, i, "nn_optimizer_new");
        nn_optimizer *o = nn_optimizer_new(CASES[i].name, &CASES[i].opts);
        CHECK(o != NULL);
        if (o) check_case(o, &CASES[i], what);
        nn_optimizer_free(o);
    }
}

/* get_config then from_config gives the same config and the same steps, for every case. */
TEST(test_config_round_trip_matches_keras) {
    for (size_t i = 0; i < NN_ARRAY_LEN(CASES); i++) {
        char what[96];
        case_label(what, sizeof what, i, "from get_config");
        nn_optimizer *o = nn_optimizer_new(CASES[i].name, &CASES[i].opts);
        nn_value config;
        CHECK(o && nn_optimizer_get_config(o, &config) == NN_OK);
        if (!o) continue;
        const nn_value *name = nn_value_get(&config, "name");
        CHECK(name && name->type == NN_VALUE_STRING && !strcmp(name->string, CASES[i].name));
        nn_optimizer *copy = nn_optimizer_from_config(name ? name->string : "", &config);
        CHECK(copy != NULL);
        if (copy) {
            char *a = config_json(o), *b = config_json(copy);
            CHECK(a && b && !strcmp(a, b));
            nn_free(a);
            nn_free(b);
            check_case(copy, &CASES[i], what);
        }
        nn_optimizer_free(copy);
        nn_optimizer_free(o);
        nn_value_clear(&config);
    }
}

/* Nadam's u_product, recomputed from the step, against Keras's running product. */
TEST(test_long_runs_match_keras) {
    for (size_t i = 0; i < NN_ARRAY_LEN(LONG_CASES); i++) {
        const long_case *c = &LONG_CASES[i];
        nn_optimizer *o = nn_optimizer_new(c->name, &c->opts);
        CHECK(o != NULL);
        if (!o) continue;
        rig r;
        rig_init(&r, o);
        for (int s = 0; s < LONG_STEPS; s++) rig_step(&r, o, GRADS[s % NSTEPS]);
        char what[64];
        snprintf(what, sizeof what, "long case %zu (%s)", i, c->name);
        check_values(&r, c->expected, what, LONG_STEPS, 1e-6);
        CHECK(o->iterations == LONG_STEPS);
        nn_optimizer_free(o);
    }
}

/* ------------------------------------------------------------ names and defaults */

TEST(test_names_ignore_case_and_accept_class_names) {
    const char *spellings[][2] = {
        { "adam", "adam" }, { "Adam", "adam" }, { "ADAM", "adam" }, { "SGD", "sgd" },
        { "RMSprop", "rmsprop" }, { "AdamW", "adamw" }, { "Adadelta", "adadelta" },
        { "nadam", "nadam" }, { "Adamax", "adamax" }, { "adagrad", "adagrad" },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(spellings); i++) {
        nn_optimizer *o = nn_optimizer_new(spellings[i][0], NULL);
        CHECK(o && !strcmp(o->def->name, spellings[i][1]));
        nn_optimizer_free(o);
    }
    const char *const *names = nn_optimizer_names();
    size_t count = 0;
    for (; names[count]; count++) {
        nn_optimizer *o = nn_optimizer_from_config(names[count], NULL);
        CHECK(o && !strcmp(o->def->name, names[count]));
        nn_optimizer_free(o);
    }
    CHECK(count == 8);
}

TEST(test_unknown_name_lists_known) {
    check_new_error(nn_optimizer_new("adamx", NULL),
                    "unknown optimizer 'adamx' (known: sgd, adam, adamw, rmsprop, adagrad, "
                    "adadelta, adamax, nadam)");
    CHECK(nn_optimizer_from_config("Lion", NULL) == NULL);
    CHECK_CONTAINS(nn_last_error(), "unknown optimizer 'Lion' (known: sgd, adam,");
    check_new_error(nn_optimizer_new(NULL, NULL), "optimizer name is NULL (known: sgd, adam,");
}

TEST(test_defaults_are_keras) {
    nn_optimizer *sgd = nn_sgd(), *adam = nn_adam(), *adamw = nn_adamw(), *rms = nn_rmsprop();
    nn_optimizer *adagrad = nn_adagrad(), *adadelta = nn_adadelta(), *adamax = nn_adamax();
    nn_optimizer *nadam = nn_nadam();
    CHECK(sgd && adam && adamw && rms && adagrad && adadelta && adamax && nadam);
    if (sgd && adam && adamw && rms && adagrad && adadelta && adamax && nadam) {
        CHECK(sgd->opts.learning_rate == 0.01 && sgd->opts.momentum == 0 && !sgd->opts.nesterov);
        CHECK(adam->opts.learning_rate == 0.001 && adam->opts.beta_1 == 0.9 &&
              adam->opts.beta_2 == 0.999 && adam->opts.epsilon == 1e-7 && !adam->opts.amsgrad &&
              adam->opts.weight_decay == 0);
        CHECK(adamw->opts.weight_decay == 0.004 && adamw->opts.beta_2 == 0.999);
        CHECK(rms->opts.rho == 0.9 && rms->opts.epsilon == 1e-7 && rms->opts.momentum == 0);
        CHECK(adagrad->opts.initial_accumulator_value == 0.1 && adagrad->opts.epsilon == 1e-7);
        CHECK(adadelta->opts.learning_rate == 0.001 && adadelta->opts.rho == 0.95);
        CHECK(adamax->opts.beta_1 == 0.9 && nadam->opts.beta_2 == 0.999);
        CHECK(nadam->iterations == 0);
    }
    nn_optimizer *tuned = nn_adam(.learning_rate = 0.05, .beta_1 = 0.5);
    CHECK(tuned && tuned->opts.learning_rate == 0.05 && tuned->opts.beta_1 == 0.5 &&
          tuned->opts.beta_2 == 0.999);
    nn_optimizer *all[] = { sgd, adam, adamw, rms, adagrad, adadelta, adamax, nadam, tuned };
    for (size_t i = 0; i < NN_ARRAY_LEN(all); i++) nn_optimizer_free(all[i]);
}

TEST(test_slot_counts_and_initial_values) {
    struct { nn_optimizer *o; int slots; } cases[] = {
        { nn_sgd(), 0 }, { nn_sgd(.momentum = 0.9), 1 }, { nn_adam(), 2 },
        { nn_adam(.amsgrad = true), 3 }, { nn_adamw(.amsgrad = true), 3 }, { nn_rmsprop(), 1 },
        { nn_rmsprop(.momentum = 0.5), 2 }, { nn_rmsprop(.momentum = 0.5, .centered = true), 3 },
        { nn_adagrad(), 1 }, { nn_adadelta(), 2 }, { nn_adamax(), 2 }, { nn_nadam(), 2 },
    };
    for (size_t i = 0; i < NN_ARRAY_LEN(cases); i++) {
        CHECK(cases[i].o && nn_optimizer_slot_count(cases[i].o) == cases[i].slots);
        nn_optimizer_free(cases[i].o);
    }
    nn_optimizer *adagrad = nn_adagrad(.initial_accumulator_value = 0.25);
    nn_optimizer *adam = nn_adam(.amsgrad = true);
    float slots[3 * 4];
    for (size_t i = 0; i < NN_ARRAY_LEN(slots); i++) slots[i] = -9.0f;
    nn_optimizer_init_slots(adagrad, slots, 4);
    for (size_t i = 0; i < 4; i++) CHECK(slots[i] == 0.25f);
    CHECK(slots[4] == -9.0f);
    nn_optimizer_init_slots(adam, slots, 4);
    for (size_t i = 0; i < 12; i++) CHECK(slots[i] == 0.0f);
    nn_optimizer_free(adagrad);
    nn_optimizer_free(adam);
}

/* NN_OFF is an explicit zero: AdamW without weight decay steps exactly as Adam. */
TEST(test_nn_off_means_zero) {
    nn_optimizer *adamw = nn_adamw(.weight_decay = NN_OFF), *adam = nn_adam();
    CHECK(adamw && adam && adamw->opts.weight_decay == 0);
    if (adamw && adam) {
        rig a, b;
        rig_init(&a, adamw);
        rig_init(&b, adam);
        for (int s = 0; s < NSTEPS; s++) {
            rig_step(&a, adamw, GRADS[s]);
            rig_step(&b, adam, GRADS[s]);
        }
        CHECK(!memcmp(a.params, b.params, sizeof a.params));
    }
    nn_optimizer *sgd = nn_sgd(.learning_rate = NN_OFF);
    CHECK(sgd && sgd->opts.learning_rate == 0);
    nn_optimizer_free(sgd);
    nn_optimizer_free(adamw);
    nn_optimizer_free(adam);
}

/* ------------------------------------------------------------ config */

TEST(test_get_config_has_keras_keys) {
    nn_optimizer *adam = nn_adam(.clipnorm = 2.0), *adamw = nn_adamw(), *sgd = nn_sgd();
    char *a = config_json(adam), *w = config_json(adamw), *s = config_json(sgd);
    CHECK_CONTAINS(a, "\"name\":\"adam\"");
    CHECK_CONTAINS(a, "\"learning_rate\":0.001");
    CHECK_CONTAINS(a, "\"weight_decay\":null");
    CHECK_CONTAINS(a, "\"clipnorm\":2");
    CHECK_CONTAINS(a, "\"global_clipnorm\":null");
    CHECK_CONTAINS(a, "\"beta_1\":0.9");
    CHECK_CONTAINS(a, "\"beta_2\":0.999");
    CHECK_CONTAINS(a, "\"epsilon\":1e-07");
    CHECK_CONTAINS(a, "\"amsgrad\":false");
    CHECK(a && !strstr(a, "momentum") && !strstr(a, "rho"));
    CHECK_CONTAINS(w, "\"name\":\"adamw\"");
    CHECK_CONTAINS(w, "\"weight_decay\":0.004");
    CHECK_CONTAINS(s, "\"momentum\":0");
    CHECK_CONTAINS(s, "\"nesterov\":false");
    CHECK(s && !strstr(s, "beta_1") && !strstr(s, "epsilon"));
    nn_free(a);
    nn_free(w);
    nn_free(s);
    nn_optimizer_free(adam);
    nn_optimizer_free(adamw);
    nn_optimizer_free(sgd);
}

TEST(test_from_config_reads_keras_kwargs) {
    nn_value kwargs = json("{\"learning_rate\": 0.1, \"momentum\": 0.9, \"nesterov\": true,"
                           " \"clipnorm\": null, \"name\": \"my_sgd\"}");
    nn_optimizer *o = nn_optimizer_from_config("SGD", &kwargs);
    CHECK(o && o->opts.learning_rate == 0.1 && o->opts.momentum == 0.9 && o->opts.nesterov &&
          o->opts.clipnorm == 0);
    nn_optimizer_free(o);
    nn_value_clear(&kwargs);

    /* An explicit 0 is 0, not the default. */
    kwargs = json("{\"momentum\": 0, \"rho\": 0.5}");
    o = nn_optimizer_from_config("rmsprop", &kwargs);
    CHECK(o && o->opts.momentum == 0 && o->opts.rho == 0.5 && nn_optimizer_slot_count(o) == 1);
    nn_optimizer_free(o);
    nn_value_clear(&kwargs);

    kwargs = json("{\"weight_decay\": 0}");
    o = nn_optimizer_from_config("AdamW", &kwargs);
    CHECK(o && o->opts.weight_decay == 0);
    nn_optimizer_free(o);
    nn_value_clear(&kwargs);
}

TEST(test_from_config_errors_name_the_key) {
    check_config_error("adam", "{\"momentum\": 0.9}",
                       "unknown key 'momentum' for optimizer 'adam' (known: name, learning_rate, "
                       "weight_decay, clipnorm, global_clipnorm, clipvalue, beta_1, beta_2, "
                       "epsilon, amsgrad)");
    check_config_error("sgd", "{\"learning_rate\": \"fast\"}",
                       "optimizer 'sgd': 'learning_rate' must be a number, got a string");
    check_config_error("sgd", "{\"learning_rate\": null}",
                       "optimizer 'sgd': 'learning_rate' must be a number, got null");
    check_config_error("sgd", "{\"nesterov\": 1}",
                       "optimizer 'sgd': 'nesterov' must be true or false, got a number");
    check_config_error("adam", "{\"epsilon\": -1}",
                       "optimizer 'adam': 'epsilon' must be a finite number >= 0, got -1");
    check_config_error("adam", "{\"name\": 3}", "optimizer 'adam': 'name' must be a string");
    check_config_error("adam", "[0.1]", "optimizer 'adam': the config must be a dict, got a list");
    check_config_error("sgd", "{\"clipnorm\": 1, \"clipvalue\": 0.5}",
                       "optimizer 'sgd': only one of clipnorm, clipvalue and global_clipnorm");
}

TEST(test_new_errors_name_the_option) {
    check_new_error(nn_adam(.momentum = 0.9),
                    "optimizer 'adam' has no hyper-parameter 'momentum' (known: learning_rate,");
    check_new_error(nn_sgd(.amsgrad = true), "optimizer 'sgd' has no hyper-parameter 'amsgrad'");
    check_new_error(nn_sgd(.momentum = 1.5),
                    "optimizer 'sgd': momentum must be between 0 and 1, got 1.5");
    check_new_error(nn_adam(.learning_rate = -0.5),
                    "optimizer 'adam': learning_rate must be a finite number >= 0 (or NN_OFF), "
                    "got -0.5");
    check_new_error(nn_rmsprop(.rho = NAN),
                    "optimizer 'rmsprop': rho must be a finite number >= 0 (or NN_OFF), got nan");
    check_new_error(nn_rmsprop(.global_clipnorm = 1, .clipvalue = 2),
                    "only one of clipnorm, clipvalue and global_clipnorm can be set "
                    "(got clipnorm=0, clipvalue=2, global_clipnorm=1)");
}

/* ------------------------------------------------------------ the step itself */

TEST(test_apply_makes_no_allocation) {
    const char *names[] = { "sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax",
                            "nadam" };
    for (size_t i = 0; i < NN_ARRAY_LEN(names); i++) {
        nn_optimizer *o = nn_optimizer_new(names[i], &(nn_optimizer_opts){ .global_clipnorm = 1 });
        CHECK(o != NULL);
        if (!o) continue;
        rig r;
        rig_init(&r, o);
        failing_alloc count;
        failing_alloc_install(&count, FAILING_ALLOC_NONE);
        rig_step(&r, o, GRADS[0]);
        nn_set_allocator(NULL);
        CHECK(count.calls == 0);
        nn_optimizer_free(o);
    }
}

/* Keras's edge cases: a zero gradient is left alone by clipnorm; a NaN in any gradient makes
 * global_clipnorm's scale NaN; clipvalue keeps NaN as NaN. */
TEST(test_clipping_edge_cases) {
    const float zeros[NVALUES] = { 0 };
    nn_optimizer *o = nn_sgd(.learning_rate = 0.1, .clipnorm = 1);
    rig r;
    rig_init(&r, o);
    rig_step(&r, o, zeros);
    for (size_t i = 0; i < NVALUES; i++) CHECK(r.params[POSITION[i]] == INITIAL[i]);
    nn_optimizer_free(o);

    float with_nan[NVALUES] = { 0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f };
    with_nan[6] = NAN;
    o = nn_sgd(.learning_rate = 0.1, .global_clipnorm = 1);
    rig_init(&r, o);
    rig_step(&r, o, with_nan);
    for (size_t i = 0; i < NVALUES; i++) CHECK(isnan(r.params[POSITION[i]]));
    nn_optimizer_free(o);

    o = nn_sgd(.learning_rate = 0.1, .clipvalue = 0.25);
    rig_init(&r, o);
    rig_step(&r, o, with_nan);
    CHECK(isnan(r.params[POSITION[6]]));
    CHECK_NEAR(r.params[POSITION[7]], INITIAL[7] - 0.025f, 1e-7);
    CHECK_NEAR(r.params[POSITION[0]], INITIAL[0] - 0.01f, 1e-7);
    nn_optimizer_free(o);
}

TEST(test_no_variables_is_no_step) {
    nn_optimizer *o = nn_adam();
    CHECK(o != NULL);
    if (o) nn_optimizer_apply(o, NULL, VARS, 0, NULL, NULL, NULL, 0);
    CHECK(o && o->iterations == 0);
    nn_optimizer_free(o);
}

/* ------------------------------------------------------------ threads */

enum { LONG_FIRST = 20001, LONG_TOTAL = 38401 }; /* one past a multiple of 2 x 64 and of 3 x 64 */

typedef struct long_rig {
    float *params, *grads, *slots;
} long_rig;

static void long_rig_free(long_rig *r) {
    free(r->params);
    free(r->grads);
    free(r->slots);
}

static bool long_rig_init(long_rig *r, const nn_optimizer *o) {
    r->params = malloc(LONG_TOTAL * sizeof(float));
    r->grads = malloc(LONG_TOTAL * sizeof(float));
    r->slots = malloc(MAX_TEST_SLOTS * LONG_TOTAL * sizeof(float));
    if (!r->params || !r->grads || !r->slots) return false;
    for (int i = 0; i < LONG_TOTAL; i++) r->params[i] = (float)(i % 2001 - 1000) / 997.0f;
    nn_optimizer_init_slots(o, r->slots, LONG_TOTAL);
    return true;
}

static void long_rig_step(long_rig *r, nn_optimizer *o, nn_threads *pool, int step) {
    static const nn_var_span vars[2] = { { 0, LONG_FIRST }, { LONG_FIRST, LONG_TOTAL - LONG_FIRST } };
    for (int i = 0; i < LONG_TOTAL; i++) r->grads[i] = (float)((i * 7919 + step * 104729) % 2003 - 1001) / 1009.0f;
    nn_optimizer_apply(o, pool, vars, 2, r->params, r->grads, r->slots, LONG_TOTAL);
}

/* Runs long enough to be split over the threads give the same bits as one thread, for every
 * case, on pools of 2 and 3 threads: the shares end off the variables' ends, and the last share
 * holds one float (a split that loses it shows). */
TEST(test_threads_give_the_same_bits) {
    for (int threads = 2; threads <= 3; threads++) {
        nn_threads *pool = NULL;
        CHECK(nn_threads_new(threads, &pool) == NN_OK);
        for (size_t c = 0; pool && c < NN_ARRAY_LEN(CASES); c++) {
            nn_optimizer *alone = nn_optimizer_new(CASES[c].name, &CASES[c].opts);
            nn_optimizer *split = nn_optimizer_new(CASES[c].name, &CASES[c].opts);
            long_rig a = { 0 }, b = { 0 };
            bool ready = alone && split && long_rig_init(&a, alone) && long_rig_init(&b, split);
            CHECK(ready);
            for (int step = 0; ready && step < NSTEPS; step++) {
                long_rig_step(&a, alone, NULL, step);
                long_rig_step(&b, split, pool, step);
            }
            size_t slot_floats = ready ? (size_t)nn_optimizer_slot_count(alone) * LONG_TOTAL : 0;
            if (ready && (memcmp(a.params, b.params, LONG_TOTAL * sizeof(float)) ||
                          memcmp(a.slots, b.slots, slot_floats * sizeof(float))))
                printf("  %s (case %zu) on %d threads differs from one thread\n", CASES[c].name, c, threads);
            CHECK(!ready || !memcmp(a.params, b.params, LONG_TOTAL * sizeof(float)));
            CHECK(!ready || !memcmp(a.slots, b.slots, slot_floats * sizeof(float)));
            long_rig_free(&a);
            long_rig_free(&b);
            nn_optimizer_free(alone);
            nn_optimizer_free(split);
        }
        nn_threads_free(pool);
    }
}

TEST(test_free_null) { nn_optimizer_free(NULL); }

int main(void) {
    RUN_TESTS(test_each_optimizer_matches_keras, test_config_round_trip_matches_keras,
              test_long_runs_match_keras, test_names_ignore_case_and_accept_class_names,
              test_unknown_name_lists_known, test_defaults_are_keras,
              test_slot_counts_and_initial_values, test_nn_off_means_zero,
              test_get_config_has_keras_keys, test_from_config_reads_keras_kwargs,
              test_from_config_errors_name_the_key, test_new_errors_name_the_option,
              test_apply_makes_no_allocation, test_clipping_edge_cases,
              test_no_variables_is_no_step, test_threads_give_the_same_bits, test_free_null);
}
