/* The native model file (docs/FILE_FORMAT.md): a little-endian header, Keras-shaped JSON
 * metadata, 64-byte aligned float32 tensors and a trailing CRC-32. Saving goes through a
 * temporary file renamed over the target; loading checks every size against the file before
 * allocating and rebuilds the model through the same registries as the C API. */
#include "model/model.h"

#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "NNMODEL\0"
#define MAGIC_SIZE 8
#define FORMAT_VERSION 1
#define HEADER_SIZE 24 /* magic, u32 version, u32 flags, u64 metadata length */
#define CRC_SIZE 4
#define ALIGNMENT 64
#define TENSOR_NAME_SIZE (3 * NN_NAME_SIZE)
/* Integers in the JSON metadata are doubles: beyond 2^53 they are no longer exact. */
#define MAX_JSON_INTEGER 9007199254740992.0

/* ------------------------------------------------------------ CRC-32 (IEEE, as zlib's crc32) */

/* Continues a CRC over more bytes; start with crc = 0. Half-byte table: 64 bytes, no setup. */
static uint32_t crc32_update(uint32_t crc, const void *data, size_t size) {
    static const uint32_t nibble[16] = {
        0x00000000, 0x1DB71064, 0x3B6E20C8, 0x26D930AC, 0x76DC4190, 0x6B6B51F4, 0x4DB26158, 0x5005713C,
        0xEDB88320, 0xF00F9344, 0xD6D6A3E8, 0xCB61B38C, 0x9B64C2B0, 0x86D3D2D4, 0xA00AE278, 0xBDBDF21C,
    };
    const unsigned char *p = data;
    crc = ~crc;
    for (size_t i = 0; i < size; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ nibble[crc & 15];
        crc = (crc >> 4) ^ nibble[crc & 15];
    }
    return ~crc;
}

/* ------------------------------------------------------------ little-endian bytes */

static void put_le(unsigned char *out, uint64_t x, int bytes) {
    for (int i = 0; i < bytes; i++) out[i] = (unsigned char)(x >> (8 * i));
}

static uint64_t get_le(const unsigned char *in, int bytes) {
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++) x |= (uint64_t)in[i] << (8 * i);
    return x;
}

static uint64_t align_up(uint64_t x) { return (x + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT; }

/* ------------------------------------------------------------ the tensors a model saves */

typedef struct saved_tensor {
    char name[TENSOR_NAME_SIZE];
    int ndim;
    const int64_t *shape;
    float *data;      /* in the model: parameters or an optimizer slot block */
    size_t count;
    uint64_t offset;  /* from the start of the data section */
} saved_tensor;

static void slot_tensor_name(char *buf, int slot, const char *var_name) {
    snprintf(buf, TENSOR_NAME_SIZE, "optimizer/slot_%d/%s", slot, var_name);
}

/* Every variable, then (when training has created it) each optimizer slot of each trainable
 * variable, at aligned offsets. */
static int list_saved_tensors(const nn_model *m, saved_tensor **out, int *count) {
    int slots = m->slots ? nn_optimizer_slot_count(m->optimizer) : 0;
    saved_tensor *t = nn_calloc((size_t)m->nvars * (size_t)(slots + 1) + 1, sizeof *t);
    if (!t) return NN_ERR_NOMEM;
    int n = 0;
    uint64_t end = 0;
    for (int k = -1; k < slots; k++)
        for (int i = 0; i < m->nvars; i++) {
            const nn_variable *v = &m->vars[i];
            if (k >= 0 && !v->trainable) continue;
            if (k < 0) snprintf(t[n].name, sizeof t[n].name, "%s", v->name);
            else slot_tensor_name(t[n].name, k, v->name);
            t[n].ndim = v->ndim;
            t[n].shape = v->shape;
            t[n].data = (k < 0 ? m->params : m->slots + (size_t)k * m->nparams) + v->offset;
            t[n].count = v->size;
            t[n].offset = align_up(end);
            end = t[n].offset + (uint64_t)v->size * sizeof(float);
            n++;
        }
    *out = t;
    *count = n;
    return NN_OK;
}

/* ------------------------------------------------------------ metadata (save) */

/* Sets dict[key] = item unless an earlier step failed; *status keeps the first failure. */
static void put(nn_value *dict, const char *key, nn_value item, int *status) {
    if (*status) nn_value_clear(&item);
    else *status = nn_value_dict_set(dict, key, item);
}

static void put_string(nn_value *dict, const char *key, const char *s, int *status) {
    nn_value v = { NN_VALUE_NULL };
    if (!*status) *status = nn_value_string(&v, s);
    put(dict, key, v, status);
}

/* [d1, d2, ...], or with_batch [null, d1, d2, ...] as Keras writes a batch input shape. */
static int shape_value(int ndim, const int64_t *shape, bool with_batch, nn_value *out) {
    int status = nn_value_list_new(out);
    if (!status && with_batch) status = nn_value_list_push(out, (nn_value){ NN_VALUE_NULL });
    for (int i = 0; i < ndim && !status; i++) status = nn_value_list_push(out, nn_value_number((double)shape[i]));
    return status;
}

/* Keras's reference to a tensor: [layer name, node index, tensor index]. */
static int history_value(const nn_model *m, nn_model_ref ref, nn_value *out) {
    nn_value name = { NN_VALUE_NULL };
    int status = nn_value_list_new(out);
    if (!status) status = nn_value_string(&name, m->layers[m->nodes[ref.node].layer]->name);
    if (!status) status = nn_value_list_push(out, name);
    else nn_value_clear(&name);
    if (!status) status = nn_value_list_push(out, nn_value_number(nn_model_keras_node_index(m, ref.node)));
    if (!status) status = nn_value_list_push(out, nn_value_number(ref.index));
    return status;
}

/* {"class_name": "__keras_tensor__", "config": {"dtype": "float32", "keras_history": [...]}} */
static int keras_tensor_value(const nn_model *m, nn_model_ref ref, nn_value *out) {
    nn_value config = { NN_VALUE_NULL }, history = { NN_VALUE_NULL };
    int status = nn_value_dict_new(out);
    put_string(out, "class_name", "__keras_tensor__", &status);
    if (!status) status = nn_value_dict_new(&config);
    put_string(&config, "dtype", "float32", &status);
    if (!status) status = history_value(m, ref, &history);
    put(&config, "keras_history", history, &status);
    put(out, "config", config, &status);
    return status;
}

/* A call's inputs as Keras's node args: [tensor] for one input, [[tensors...]] for several. */
static int node_value(const nn_model *m, const nn_model_node *node, nn_value *out) {
    nn_value args = { NN_VALUE_NULL }, list = { NN_VALUE_NULL }, kwargs = { NN_VALUE_NULL };
    int status = nn_value_dict_new(out);
    if (!status) status = nn_value_list_new(&args);
    if (!status) status = nn_value_list_new(&list);
    for (int i = 0; i < node->ninputs && !status; i++) {
        nn_value tensor = { NN_VALUE_NULL };
        status = keras_tensor_value(m, node->inputs[i], &tensor);
        if (!status) status = nn_value_list_push(node->ninputs == 1 ? &args : &list, tensor);
        else nn_value_clear(&tensor);
    }
    if (!status && node->ninputs > 1) status = nn_value_list_push(&args, list);
    else nn_value_clear(&list);
    put(out, "args", args, &status);
    if (!status) status = nn_value_dict_new(&kwargs);
    put(out, "kwargs", kwargs, &status);
    return status;
}

/* The layer's calls in the model, in Keras's node order (call order). */
static int inbound_nodes_value(const nn_model *m, int layer, nn_value *out) {
    int status = nn_value_list_new(out);
    if (status || m->layers[layer]->def == &nn_layer_input) return status;
    for (int call = 0; call < m->layers[layer]->ncalls && !status; call++)
        for (int k = 0; k < m->nnodes && !status; k++) {
            if (m->nodes[k].layer != layer || m->nodes[k].call != call) continue;
            nn_value node = { NN_VALUE_NULL };
            status = node_value(m, &m->nodes[k], &node);
            if (!status) status = nn_value_list_push(out, node);
            else nn_value_clear(&node);
        }
    return status;
}

static int refs_value(const nn_model *m, const nn_model_ref *refs, int count, nn_value *out) {
    int status = nn_value_list_new(out);
    for (int i = 0; i < count && !status; i++) {
        nn_value ref = { NN_VALUE_NULL };
        status = history_value(m, refs[i], &ref);
        if (!status) status = nn_value_list_push(out, ref);
        else nn_value_clear(&ref);
    }
    return status;
}

static int model_value(const nn_model *m, nn_value *out) {
    nn_value config = { NN_VALUE_NULL }, layers = { NN_VALUE_NULL }, shape = { NN_VALUE_NULL };
    int status = nn_value_dict_new(out);
    if (!status) status = nn_value_dict_new(&config);
    if (!status) status = nn_value_list_new(&layers);
    for (int i = 0; i < m->nlayers && !status; i++) {
        nn_value layer = { NN_VALUE_NULL }, layer_config = { NN_VALUE_NULL }, inbound = { NN_VALUE_NULL };
        status = nn_value_dict_new(&layer);
        put_string(&layer, "class_name", m->layers[i]->def->class_name, &status);
        if (!status) status = nn_value_copy(&layer_config, &m->layers[i]->config);
        put(&layer, "config", layer_config, &status);
        if (m->functional) {
            put_string(&layer, "name", m->layers[i]->name, &status);
            if (!status) status = inbound_nodes_value(m, i, &inbound);
            put(&layer, "inbound_nodes", inbound, &status);
        }
        if (status) nn_value_clear(&layer);
        else status = nn_value_list_push(&layers, layer);
    }
    put_string(&config, "name", m->name, &status);
    put(&config, "layers", layers, &status);
    if (m->functional) {
        nn_value inputs = { NN_VALUE_NULL }, outputs = { NN_VALUE_NULL };
        nn_model_ref input_refs[NN_MAX_MODEL_IO];
        for (int i = 0; i < m->ninputs; i++) input_refs[i] = (nn_model_ref){ m->inputs[i], 0 };
        if (!status) status = refs_value(m, input_refs, m->ninputs, &inputs);
        put(&config, "input_layers", inputs, &status);
        if (!status) status = refs_value(m, m->outputs, m->noutputs, &outputs);
        put(&config, "output_layers", outputs, &status);
    } else {
        if (!status) status = shape_value(m->input_ndim, m->input_shape, true, &shape);
        put(&config, "build_input_shape", shape, &status);
    }
    put_string(out, "class_name", m->functional ? "Functional" : "Sequential", &status);
    put(out, "config", config, &status);
    return status;
}

/* One loss config for a model of one output; a list of them, and the loss weights, for more. */
static int losses_value(const nn_model *m, nn_value *out) {
    if (m->noutputs == 1) return nn_loss_get_config(m->losses[0], out);
    int status = nn_value_list_new(out);
    for (int o = 0; o < m->noutputs && !status; o++) {
        nn_value loss = { NN_VALUE_NULL };
        status = nn_loss_get_config(m->losses[o], &loss);
        if (!status) status = nn_value_list_push(out, loss);
        else nn_value_clear(&loss);
    }
    return status;
}

static int compile_value(const nn_model *m, nn_value *out) {
    *out = (nn_value){ NN_VALUE_NULL };
    if (!m->compiled) return NN_OK;
    nn_value optimizer = { NN_VALUE_NULL }, loss = { NN_VALUE_NULL }, metrics = { NN_VALUE_NULL };
    nn_value weights = { NN_VALUE_NULL };
    int status = nn_value_dict_new(out);
    if (!status) status = nn_optimizer_get_config(m->optimizer, &optimizer);
    put(out, "optimizer", optimizer, &status);
    if (!status) status = losses_value(m, &loss);
    put(out, "loss", loss, &status);
    if (!status && m->noutputs > 1) {
        status = nn_value_list_new(&weights);
        for (int o = 0; o < m->noutputs && !status; o++) status = nn_value_list_push(&weights, nn_value_number(m->loss_weights[o]));
        put(out, "loss_weights", weights, &status);
    }
    if (!status) status = nn_value_list_new(&metrics);
    for (int i = 0; i < m->nmetric_names && !status; i++) {
        nn_value name;
        status = nn_value_string(&name, m->metric_names[i]);
        if (!status) status = nn_value_list_push(&metrics, name);
    }
    put(out, "metrics", metrics, &status);
    return status;
}

static int tensors_value(const saved_tensor *t, int count, nn_value *out) {
    int status = nn_value_list_new(out);
    for (int i = 0; i < count && !status; i++) {
        nn_value entry = { NN_VALUE_NULL }, shape = { NN_VALUE_NULL };
        status = nn_value_dict_new(&entry);
        put_string(&entry, "name", t[i].name, &status);
        put_string(&entry, "dtype", "float32", &status);
        if (!status) status = shape_value(t[i].ndim, t[i].shape, false, &shape);
        put(&entry, "shape", shape, &status);
        put(&entry, "offset", nn_value_number((double)t[i].offset), &status);
        put(&entry, "nbytes", nn_value_number((double)(t[i].count * sizeof(float))), &status);
        if (status) nn_value_clear(&entry);
        else status = nn_value_list_push(out, entry);
    }
    return status;
}

/* The model's RNG (shuffling, dropout) as four 16-digit hex words, so training resumes on the
 * same random stream; JSON numbers cannot hold 64-bit integers exactly. */
static int rng_value(const nn_rng *rng, nn_value *out) {
    int status = nn_value_list_new(out);
    for (size_t i = 0; i < NN_ARRAY_LEN(rng->s) && !status; i++) {
        char word[17];
        nn_value v;
        snprintf(word, sizeof word, "%016llx", (unsigned long long)rng->s[i]);
        status = nn_value_string(&v, word);
        if (!status) status = nn_value_list_push(out, v);
    }
    return status;
}

static int metadata_json(const nn_model *m, const saved_tensor *t, int count, char **json) {
    nn_value meta = { NN_VALUE_NULL }, model = { NN_VALUE_NULL }, compile = { NN_VALUE_NULL };
    nn_value rng = { NN_VALUE_NULL }, tensors = { NN_VALUE_NULL };
    int status = nn_value_dict_new(&meta);
    put_string(&meta, "format", "nn", &status);
    put(&meta, "format_version", nn_value_number(FORMAT_VERSION), &status);
    put_string(&meta, "nn_version", NN_VERSION, &status);
    if (!status) status = model_value(m, &model);
    put(&meta, "model", model, &status);
    if (!status) status = compile_value(m, &compile);
    put(&meta, "compile_config", compile, &status);
    put(&meta, "optimizer_iterations", nn_value_number(m->compiled ? (double)m->optimizer->iterations : 0), &status);
    if (!status) status = rng_value(&m->rng, &rng);
    put(&meta, "rng_state", rng, &status);
    if (!status) status = tensors_value(t, count, &tensors);
    put(&meta, "tensors", tensors, &status);
    if (!status) status = nn_value_to_json(&meta, json);
    nn_value_clear(&meta);
    return status;
}

/* ------------------------------------------------------------ writing */

/* Bytes to a FILE with a running CRC; the first failure sticks. */
typedef struct file_writer {
    FILE *f;
    uint32_t crc;
    bool failed;
} file_writer;

static void write_bytes(file_writer *w, const void *data, size_t size) {
    if (w->failed || !size) return;
    w->crc = crc32_update(w->crc, data, size);
    w->failed = fwrite(data, 1, size, w->f) != size;
}

static void write_zeros(file_writer *w, size_t size) {
    static const unsigned char zeros[ALIGNMENT];
    while (size) {
        size_t n = size < sizeof zeros ? size : sizeof zeros;
        write_bytes(w, zeros, n);
        size -= n;
    }
}

/* float32 as little-endian bytes whatever the host's order. */
static void write_floats(file_writer *w, const float *x, size_t count) {
    unsigned char chunk[4096];
    const size_t per_chunk = sizeof chunk / sizeof(float);
    for (size_t start = 0; start < count; start += per_chunk) {
        size_t n = count - start < per_chunk ? count - start : per_chunk;
        for (size_t i = 0; i < n; i++) {
            uint32_t bits;
            memcpy(&bits, &x[start + i], sizeof bits);
            put_le(chunk + 4 * i, bits, 4);
        }
        write_bytes(w, chunk, 4 * n);
    }
}

static void write_model_file(file_writer *w, const char *json, const saved_tensor *t, int count) {
    unsigned char header[HEADER_SIZE];
    size_t json_size = strlen(json);
    memcpy(header, MAGIC, MAGIC_SIZE);
    put_le(header + 8, FORMAT_VERSION, 4);
    put_le(header + 12, 0, 4); /* flags */
    put_le(header + 16, json_size, 8);
    write_bytes(w, header, sizeof header);
    write_bytes(w, json, json_size);
    uint64_t position = HEADER_SIZE + json_size, data_start = align_up(position);
    write_zeros(w, (size_t)(data_start - position));
    position = 0;
    for (int i = 0; i < count; i++) {
        write_zeros(w, (size_t)(t[i].offset - position));
        write_floats(w, t[i].data, t[i].count);
        position = t[i].offset + t[i].count * sizeof(float);
    }
    unsigned char crc[CRC_SIZE];
    put_le(crc, w->crc, CRC_SIZE);
    if (!w->failed) w->failed = fwrite(crc, 1, sizeof crc, w->f) != sizeof crc;
}

/* Writes, flushes to disk and closes the temporary file; on failure removes it. */
static int write_temporary(const char *tmp, const char *json, const saved_tensor *t, int count) {
    file_writer w = { fopen(tmp, "wb"), 0, false };
    if (!w.f) return nn_error(NN_ERR_IO, "cannot create the temporary file '%s': %s", tmp, strerror(errno));
    write_model_file(&w, json, t, count);
    if (!w.failed) w.failed = fflush(w.f) != 0 || fsync(fileno(w.f)) != 0;
    int saved_errno = errno;
    if (fclose(w.f) != 0 && !w.failed) w.failed = true, saved_errno = errno;
    if (!w.failed) return NN_OK;
    remove(tmp);
    return nn_error(NN_ERR_IO, "writing '%s' failed: %s", tmp, strerror(saved_errno));
}

static int save_to(const nn_model *m, const char *path) {
    if (!m->built)
        return nn_error(NN_ERR_STATE, "model '%s' is not built, so it has no weights to save: build it, fit it or give the first layer an input_shape", m->name);
    saved_tensor *tensors = NULL;
    int count = 0;
    char *json = NULL, *tmp = NULL;
    int status = list_saved_tensors(m, &tensors, &count);
    if (!status) status = metadata_json(m, tensors, count, &json);
    size_t tmp_size = strlen(path) + 32;
    if (!status) status = (tmp = nn_malloc(tmp_size)) ? NN_OK : NN_ERR_NOMEM;
    if (!status) {
        snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
        status = write_temporary(tmp, json, tensors, count);
    }
    if (!status && rename(tmp, path) != 0) {
        status = nn_error(NN_ERR_IO, "cannot rename '%s' over it: %s", tmp, strerror(errno));
        remove(tmp);
    }
    nn_free(tmp);
    nn_free(json);
    nn_free(tensors);
    return status;
}

int nn_model_save(const nn_model *m, const char *path) {
    if (!m || !path) return nn_error(NN_ERR_ARG, "nn_model_save: %s is NULL", m ? "path" : "model");
    int status = save_to(m, path);
    return status ? nn_error_context(status, "saving '%s'", path) : NN_OK;
}

/* ------------------------------------------------------------ reading the bytes */

typedef struct model_file {
    unsigned char *bytes;
    uint64_t size;
    uint64_t metadata_size, data_start, data_size;
} model_file;

static int check_header(const unsigned char *header, size_t have, uint64_t file_size, model_file *mf) {
    size_t compared = have < MAGIC_SIZE ? have : MAGIC_SIZE;
    if (memcmp(header, MAGIC, compared) != 0) return nn_error(NN_ERR_FORMAT, "not an nn model file (it does not start with \"NNMODEL\")");
    if (have < HEADER_SIZE)
        return nn_error(NN_ERR_FORMAT, "truncated: the header needs %d bytes, the file has %zu", HEADER_SIZE, have);
    uint32_t version = (uint32_t)get_le(header + 8, 4), flags = (uint32_t)get_le(header + 12, 4);
    if (version > FORMAT_VERSION)
        return nn_error(NN_ERR_FORMAT, "format version %u is newer than this nn (%d)", (unsigned)version, FORMAT_VERSION);
    if (version != FORMAT_VERSION) return nn_error(NN_ERR_FORMAT, "format version %u is not valid", (unsigned)version);
    if (flags) return nn_error(NN_ERR_FORMAT, "unknown header flags 0x%08x", (unsigned)flags);
    mf->metadata_size = get_le(header + 16, 8);
    if (mf->metadata_size > file_size - HEADER_SIZE || file_size - HEADER_SIZE - mf->metadata_size < CRC_SIZE)
        return nn_error(NN_ERR_FORMAT, "truncated: the header announces %llu bytes of metadata but the file has %llu bytes",
                        (unsigned long long)mf->metadata_size, (unsigned long long)file_size);
    mf->data_start = align_up(HEADER_SIZE + mf->metadata_size);
    if (mf->data_start > file_size - CRC_SIZE)
        return nn_error(NN_ERR_FORMAT, "truncated: the tensor data should start at byte %llu but the file has %llu bytes",
                        (unsigned long long)mf->data_start, (unsigned long long)file_size);
    mf->data_size = file_size - CRC_SIZE - mf->data_start;
    return NN_OK;
}

/* Reads the header, checks it against the file's size, then reads the whole file. */
static int read_model_file(const char *path, model_file *mf) {
    FILE *f = fopen(path, "rb");
    if (!f) return nn_error(NN_ERR_IO, "cannot open: %s", strerror(errno));
    struct stat st;
    unsigned char header[HEADER_SIZE];
    int status = NN_OK;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        status = nn_error(NN_ERR_IO, "not a regular file");
    size_t have = status ? 0 : fread(header, 1, sizeof header, f);
    if (!status && ferror(f)) status = nn_error(NN_ERR_IO, "read error: %s", strerror(errno));
    if (!status) status = check_header(header, have, (uint64_t)st.st_size, mf);
    if (!status && (uint64_t)st.st_size > SIZE_MAX) status = nn_error(NN_ERR_NOMEM, "the file is too large for this machine");
    if (!status) {
        mf->size = (uint64_t)st.st_size;
        mf->bytes = nn_malloc((size_t)mf->size);
        if (!mf->bytes) status = NN_ERR_NOMEM;
    }
    if (!status) {
        memcpy(mf->bytes, header, HEADER_SIZE);
        size_t rest = (size_t)mf->size - HEADER_SIZE;
        if (fread(mf->bytes + HEADER_SIZE, 1, rest, f) != rest)
            status = nn_error(NN_ERR_IO, "read error: the file shrank while being read");
    }
    fclose(f);
    return status;
}

/* ------------------------------------------------------------ metadata (load) */

static int meta_fail(const char *where, const char *key, const char *expected) {
    return nn_error(NN_ERR_FORMAT, "metadata: %s%s'%s' must be %s", where, *where ? " " : "", key, expected);
}

/* dict[key] of the given type; when nullable, null or absent gives *out = NULL. */
static int meta_get(const nn_value *dict, const char *key, nn_value_type type, bool nullable,
                    const char *where, const nn_value **out) {
    static const char *const type_names[] = { "null", "a boolean", "a number", "a string", "a list", "a dict" };
    const nn_value *v = nn_value_get(dict, key);
    *out = NULL;
    if (nullable && (!v || v->type == NN_VALUE_NULL)) return NN_OK;
    if (!v || v->type != type) return meta_fail(where, key, nullable && type == NN_VALUE_DICT ? "a dict or null" : type_names[type]);
    *out = v;
    return NN_OK;
}

static bool is_count(const nn_value *v, double max) {
    return v->type == NN_VALUE_NUMBER && v->number >= 0 && v->number <= max && v->number == floor(v->number);
}

static int meta_count(const nn_value *dict, const char *key, const char *where, uint64_t *out) {
    const nn_value *v = nn_value_get(dict, key);
    if (!v || !is_count(v, MAX_JSON_INTEGER)) return meta_fail(where, key, "a non-negative integer");
    *out = (uint64_t)v->number;
    return NN_OK;
}

/* A list of dimensions (after an optional leading null for the batch) into shape. */
static int meta_shape(const nn_value *list, bool with_batch, const char *where, const char *key, int *ndim, int64_t *shape) {
    int first = with_batch ? 1 : 0;
    if (list->count - first > NN_MAX_DIMS || list->count < first || (with_batch && list->items[0].type != NN_VALUE_NULL))
        return meta_fail(where, key, with_batch ? "[null, dimensions...] with at most 8 dimensions" : "a list of at most 8 dimensions");
    for (int i = first; i < list->count; i++) {
        if (!is_count(&list->items[i], MAX_JSON_INTEGER)) return meta_fail(where, key, "a list of non-negative integers");
        shape[i - first] = (int64_t)list->items[i].number;
    }
    *ndim = list->count - first;
    return NN_OK;
}

typedef struct tensor_entry {
    const char *name; /* borrowed from the metadata */
    int ndim;
    int64_t shape[NN_MAX_DIMS];
    uint64_t offset, nbytes;
    bool used;
} tensor_entry;

static int read_tensor_entry(const nn_value *v, int index, tensor_entry *t) {
    char where[160];
    snprintf(where, sizeof where, "tensor %d:", index);
    if (v->type != NN_VALUE_DICT) return nn_error(NN_ERR_FORMAT, "metadata: tensor %d is not a dict", index);
    const nn_value *name, *dtype, *shape;
    int status = meta_get(v, "name", NN_VALUE_STRING, false, where, &name);
    if (status) return status;
    t->name = name->string;
    snprintf(where, sizeof where, "tensor '%.120s':", t->name);
    status = meta_get(v, "dtype", NN_VALUE_STRING, false, where, &dtype);
    if (!status && strcmp(dtype->string, "float32") != 0)
        status = nn_error(NN_ERR_FORMAT, "metadata: tensor '%s' has dtype '%s'; only float32 is supported", t->name, dtype->string);
    if (!status) status = meta_get(v, "shape", NN_VALUE_LIST, false, where, &shape);
    if (!status) status = meta_shape(shape, false, where, "shape", &t->ndim, t->shape);
    if (!status) status = meta_count(v, "offset", where, &t->offset);
    if (!status) status = meta_count(v, "nbytes", where, &t->nbytes);
    if (status) return status;
    size_t expected = sizeof(float);
    for (int i = 0; i < t->ndim; i++)
        if (!nn_size_mul(expected, (size_t)t->shape[i], &expected))
            return nn_error(NN_ERR_FORMAT, "metadata: tensor '%s': the size of its shape overflows", t->name);
    if (t->nbytes != expected) {
        char s[96];
        return nn_error(NN_ERR_FORMAT, "metadata: tensor '%s' of shape %s needs %zu bytes, nbytes says %llu", t->name,
                        nn_shape_str(t->ndim, t->shape, s, sizeof s), expected, (unsigned long long)t->nbytes);
    }
    if (t->offset % ALIGNMENT)
        return nn_error(NN_ERR_FORMAT, "metadata: tensor '%s' starts at offset %llu, not a multiple of %d", t->name,
                        (unsigned long long)t->offset, ALIGNMENT);
    return NN_OK;
}

static int read_tensor_table(const nn_value *meta, tensor_entry **out, int *count) {
    const nn_value *list;
    int status = meta_get(meta, "tensors", NN_VALUE_LIST, false, "", &list);
    if (status) return status;
    tensor_entry *t = nn_calloc((size_t)list->count + 1, sizeof *t);
    if (!t) return NN_ERR_NOMEM;
    for (int i = 0; i < list->count && !status; i++) {
        status = read_tensor_entry(&list->items[i], i, &t[i]);
        for (int j = 0; j < i && !status; j++)
            if (strcmp(t[i].name, t[j].name) == 0)
                status = nn_error(NN_ERR_FORMAT, "metadata: tensor '%s' is listed twice", t[i].name);
    }
    if (status) {
        nn_free(t);
        return status;
    }
    *out = t;
    *count = list->count;
    return NN_OK;
}

/* Every tensor lies inside the data section; one past it means the file was cut. */
static int check_extent(const tensor_entry *t, int count, uint64_t data_size) {
    for (int i = 0; i < count; i++)
        if (t[i].offset > data_size || t[i].nbytes > data_size - t[i].offset)
            return nn_error(NN_ERR_FORMAT, "truncated: tensor '%s' ends at byte %llu of the tensor data, which holds %llu bytes",
                            t[i].name, (unsigned long long)(t[i].offset + t[i].nbytes), (unsigned long long)data_size);
    return NN_OK;
}

/* ------------------------------------------------------------ rebuilding the model */

static tensor_entry *find_tensor(tensor_entry *t, int count, const char *name) {
    for (int i = 0; i < count; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    return NULL;
}

/* Copies the named tensor into dst after checking it has the variable's shape. */
static int restore_tensor(const model_file *mf, tensor_entry *t, int count, const char *name, const nn_variable *v, float *dst) {
    tensor_entry *e = find_tensor(t, count, name);
    char want[96], have[96];
    nn_shape_str(v->ndim, v->shape, want, sizeof want);
    if (!e) return nn_error(NN_ERR_FORMAT, "the file has no tensor '%s' (shape %s)", name, want);
    bool same = e->ndim == v->ndim;
    for (int i = 0; same && i < v->ndim; i++) same = e->shape[i] == v->shape[i];
    if (!same)
        return nn_error(NN_ERR_SHAPE, "tensor '%s' has shape %s in the file but the model needs %s", name,
                        nn_shape_str(e->ndim, e->shape, have, sizeof have), want);
    const unsigned char *src = mf->bytes + mf->data_start + e->offset;
    for (size_t i = 0; i < v->size; i++) {
        uint32_t bits = (uint32_t)get_le(src + 4 * i, 4);
        memcpy(&dst[i], &bits, sizeof bits);
    }
    e->used = true;
    return NN_OK;
}

/* Layer i of the model config, made from its class and config. */
static int layer_from_item(const nn_value *item, int i, nn_layer **out) {
    char where[32];
    snprintf(where, sizeof where, "layer %d:", i);
    const nn_value *class_name, *config;
    *out = NULL;
    if (item->type != NN_VALUE_DICT) return nn_error(NN_ERR_FORMAT, "metadata: layer %d is not a dict", i);
    int status = meta_get(item, "class_name", NN_VALUE_STRING, false, where, &class_name);
    if (!status) status = meta_get(item, "config", NN_VALUE_DICT, false, where, &config);
    if (status) return status;
    const nn_layer_def *def = nn_layer_find(class_name->string);
    if (!def) return nn_error_context(NN_ERR_NAME, "layer %d", i);
    nn_value copy;
    status = nn_value_copy(&copy, config);
    if (status) return status;
    *out = nn_layer_from_config(def, copy);
    if (!*out) return NN_ERR_NOMEM;
    if ((*out)->error) {
        status = nn_error(NN_ERR_FORMAT, "layer %d: %s", i, (*out)->error);
        nn_layer_free(*out);
        *out = NULL;
    }
    return status;
}

static int add_layers(nn_model *m, const nn_value *layers) {
    for (int i = 0; i < layers->count; i++) {
        nn_layer *l;
        int status = layer_from_item(&layers->items[i], i, &l);
        if (!status) status = nn_model_add(m, l);
        if (status) return nn_error_context(status, "layer %d", i);
    }
    return NN_OK;
}

static int sequential_from(const nn_value *config, nn_model **out) {
    const nn_value *name, *layers, *shape;
    int status = meta_get(config, "name", NN_VALUE_STRING, false, "model config:", &name);
    if (!status && (strlen(name->string) >= NN_NAME_SIZE || !name->string[0]))
        status = meta_fail("model config:", "name", "1-63 characters");
    if (!status) status = meta_get(config, "layers", NN_VALUE_LIST, false, "model config:", &layers);
    if (!status) status = meta_get(config, "build_input_shape", NN_VALUE_LIST, true, "model config:", &shape);
    if (status) return status;
    nn_model *m = nn_sequential((nn_layer *[]){ NULL });
    if (!m) return NN_ERR_NOMEM;
    snprintf(m->name, sizeof m->name, "%s", name->string);
    status = add_layers(m, layers);
    int ndim;
    int64_t dims[NN_MAX_DIMS];
    if (!status && shape) status = meta_shape(shape, true, "model config:", "build_input_shape", &ndim, dims);
    if (!status && shape) status = nn_model_build(m, ndim, dims);
    if (status) nn_model_free(m);
    else *out = m;
    return status;
}

/* ---- functional models: layers, then their calls replayed from the inbound nodes */

typedef struct loaded_layers {
    nn_layer **layers;
    const nn_value **nodes; /* each layer's inbound_nodes list */
    int *done;              /* nodes replayed so far */
    int count;
} loaded_layers;

/* The symbol of a [layer name, node index, tensor index] reference, or NULL when that call is
 * not replayed yet (*status set on a bad reference). */
static nn_symbol *resolve_ref(const loaded_layers *ll, const nn_value *ref, int *status) {
    if (ref->type != NN_VALUE_LIST || ref->count != 3 || ref->items[0].type != NN_VALUE_STRING ||
        ref->items[1].type != NN_VALUE_NUMBER || ref->items[2].type != NN_VALUE_NUMBER) {
        *status = nn_error(NN_ERR_FORMAT, "metadata: a tensor reference must be [layer name, node index, tensor index]");
        return NULL;
    }
    for (int i = 0; i < ll->count; i++) {
        nn_layer *l = ll->layers[i];
        if (strcmp(l->name, ref->items[0].string) != 0) continue;
        double node = ref->items[1].number, index = ref->items[2].number;
        if (node < 0 || node != floor(node) || index < 0 || index != floor(index) || index >= NN_MAX_LAYER_IO) break;
        if (node >= l->ncalls) return NULL;
        nn_symbol *s = nn_call_output(&l->calls[(int)node]->outputs[0], (int)index);
        if (s->call < 0) *status = nn_error(NN_ERR_FORMAT, "metadata: %s", l->error);
        return s;
    }
    *status = nn_error(NN_ERR_FORMAT, "metadata: a tensor reference names layer '%s', node %g, tensor %g, which the model does not have",
                       ref->items[0].string, ref->items[1].number, ref->items[2].number);
    return NULL;
}

/* The tensors of a node's args: [tensor] or [[tensor, ...]]; NULL entries not yet ready. */
static int node_inputs(const loaded_layers *ll, const nn_value *node, nn_symbol **inputs, int *count, bool *ready) {
    const nn_value *args;
    int status = meta_get(node, "args", NN_VALUE_LIST, false, "inbound node:", &args);
    if (status) return status;
    const nn_value *list = args->count == 1 && args->items[0].type == NN_VALUE_LIST ? &args->items[0] : args;
    if (list->count < 1 || list->count > NN_MAX_LAYER_IO) return meta_fail("inbound node:", "args", "1 to 8 tensors");
    *ready = true;
    for (int i = 0; i < list->count && !status; i++) {
        const nn_value *tensor = &list->items[i], *config, *history;
        status = tensor->type == NN_VALUE_DICT ? meta_get(tensor, "config", NN_VALUE_DICT, false, "inbound node:", &config)
                                                : meta_fail("inbound node:", "args", "Keras tensors");
        if (!status) status = meta_get(config, "keras_history", NN_VALUE_LIST, false, "inbound node:", &history);
        if (!status) inputs[i] = resolve_ref(ll, history, &status);
        *ready = *ready && inputs[i];
    }
    *count = list->count;
    return status;
}

/* Replays every layer's calls in node order, as their inputs become available. */
static int replay_calls(loaded_layers *ll) {
    for (bool progress = true; progress;) {
        progress = false;
        for (int i = 0; i < ll->count; i++) {
            nn_layer *l = ll->layers[i];
            if (l->def == &nn_layer_input || !ll->nodes[i] || ll->done[i] >= ll->nodes[i]->count) continue;
            nn_symbol *inputs[NN_MAX_LAYER_IO] = { 0 };
            int count = 0;
            bool ready = false;
            int status = node_inputs(ll, &ll->nodes[i]->items[ll->done[i]], inputs, &count, &ready);
            if (status) return nn_error_context(status, "layer '%s'", l->name);
            if (!ready) continue;
            if (nn_layer_record_call(l, inputs, count)->call < 0) return nn_error(NN_ERR_FORMAT, "%s", l->error);
            ll->done[i]++;
            progress = true;
        }
    }
    for (int i = 0; i < ll->count; i++)
        if (ll->layers[i]->def != &nn_layer_input && (!ll->nodes[i] || ll->done[i] < ll->nodes[i]->count))
            return nn_error(NN_ERR_FORMAT, "metadata: the calls of layer '%s' depend on tensors no layer makes", ll->layers[i]->name);
    return NN_OK;
}

static int io_symbols(const loaded_layers *ll, const nn_value *config, const char *key, nn_symbol **out) {
    const nn_value *refs;
    int status = meta_get(config, key, NN_VALUE_LIST, false, "model config:", &refs);
    if (!status && (refs->count < 1 || refs->count > NN_MAX_MODEL_IO)) status = meta_fail("model config:", key, "1 to 8 references");
    for (int i = 0; !status && i < refs->count; i++) {
        out[i] = resolve_ref(ll, &refs->items[i], &status);
        if (!status && !out[i]) status = nn_error(NN_ERR_FORMAT, "metadata: %s[%d] names a call that does not exist", key, i);
    }
    if (!status) out[refs->count] = NULL;
    return status;
}

/* Layers on the way to the outputs, found by walking the calls back (each call once). */
typedef struct reach {
    nn_layer **layers;
    bool *reached;
    int count;
    const nn_layer_call **seen;
    int nseen;
} reach;

static bool seen_before(reach *r, const nn_layer_call *call) {
    for (int i = 0; i < r->nseen; i++)
        if (r->seen[i] == call) return true;
    r->seen[r->nseen++] = call;
    return false;
}

/* Fails on a graph deeper than nn_model_new accepts. */
static int mark_reachable(reach *r, const nn_symbol *s, int depth) {
    if (depth > NN_MAX_GRAPH_DEPTH) return nn_error(NN_ERR_FORMAT, "metadata: the graph is deeper than %d layer calls", NN_MAX_GRAPH_DEPTH);
    const nn_layer_call *call = s->layer->calls[s->call];
    if (seen_before(r, call)) return NN_OK;
    for (int i = 0; i < r->count; i++)
        if (r->layers[i] == s->layer) r->reached[i] = true;
    int status = NN_OK;
    for (int k = 0; k < call->ninputs && !status; k++) status = mark_reachable(r, call->inputs[k], depth + 1);
    return status;
}

/* Whether every loaded layer lies on the way to an output (nn_model_new then takes them all). */
static int check_reachable(nn_layer **layers, int count, nn_symbol *const *inputs, nn_symbol *const *outputs) {
    int calls = 0;
    for (int i = 0; i < count; i++) calls += layers[i]->ncalls;
    reach r = { layers, nn_calloc((size_t)count + 1, sizeof(bool)), count, nn_calloc((size_t)calls + 1, sizeof *r.seen), 0 };
    int status = r.reached && r.seen ? NN_OK : NN_ERR_NOMEM;
    for (int o = 0; !status && outputs[o]; o++) status = mark_reachable(&r, outputs[o], 0);
    for (int i = 0; !status && inputs[i]; i++) status = mark_reachable(&r, inputs[i], 0);
    for (int i = 0; !status && i < count; i++)
        if (!r.reached[i]) status = nn_error(NN_ERR_FORMAT, "metadata: layer '%s' is not on the way to any output", layers[i]->name);
    nn_free(r.reached), nn_free(r.seen);
    return status;
}

static int functional_from(const nn_value *config, nn_model **out) {
    const nn_value *name, *layers;
    int status = meta_get(config, "name", NN_VALUE_STRING, false, "model config:", &name);
    if (!status) status = meta_get(config, "layers", NN_VALUE_LIST, false, "model config:", &layers);
    if (status) return status;
    loaded_layers ll = { .layers = nn_calloc((size_t)layers->count + 1, sizeof *ll.layers),
                         .nodes = nn_calloc((size_t)layers->count + 1, sizeof *ll.nodes),
                         .done = nn_calloc((size_t)layers->count + 1, sizeof *ll.done) };
    if (!ll.layers || !ll.nodes || !ll.done) status = NN_ERR_NOMEM;
    for (int i = 0; i < layers->count && !status; i++) {
        status = layer_from_item(&layers->items[i], i, &ll.layers[i]);
        if (status) break;
        ll.count++;
        status = meta_get(&layers->items[i], "inbound_nodes", NN_VALUE_LIST, true, "layer:", &ll.nodes[i]);
        if (!status && ll.layers[i]->def == &nn_layer_input && nn_layer_record_call(ll.layers[i], NULL, 0)->call < 0)
            status = nn_error(NN_ERR_FORMAT, "%s", ll.layers[i]->error);
    }
    if (!status) status = replay_calls(&ll);
    nn_symbol *inputs[NN_MAX_MODEL_IO + 1], *outputs[NN_MAX_MODEL_IO + 1];
    if (!status) status = io_symbols(&ll, config, "input_layers", inputs);
    if (!status) status = io_symbols(&ll, config, "output_layers", outputs);
    if (!status) status = check_reachable(ll.layers, ll.count, inputs, outputs);
    if (!status) {
        *out = nn_model_new(inputs, outputs, name->string); /* takes every layer, also on failure */
        if (!*out) status = NN_ERR_FORMAT;
    } else {
        for (int i = 0; i < ll.count; i++) nn_layer_free(ll.layers[i]);
    }
    nn_free(ll.layers), nn_free(ll.nodes), nn_free(ll.done);
    return status;
}

int nn_model_from_config(const nn_value *model, nn_model **out) {
    const nn_value *class_name, *config;
    *out = NULL;
    if (model->type != NN_VALUE_DICT) return nn_error(NN_ERR_FORMAT, "metadata: the model is not a dict");
    int status = meta_get(model, "class_name", NN_VALUE_STRING, false, "model:", &class_name);
    if (!status) status = meta_get(model, "config", NN_VALUE_DICT, false, "model:", &config);
    if (status) return status;
    if (strcmp(class_name->string, "Sequential") == 0) return sequential_from(config, out);
    if (strcmp(class_name->string, "Functional") == 0 || strcmp(class_name->string, "Model") == 0)
        return functional_from(config, out);
    return nn_error(NN_ERR_FORMAT, "model class '%s' is not supported (Sequential or Functional)", class_name->string);
}

static int build_model(const nn_value *meta, nn_model **out) {
    const nn_value *model;
    int status = meta_get(meta, "model", NN_VALUE_DICT, false, "", &model);
    return status ? status : nn_model_from_config(model, out);
}

int nn_model_config(const nn_model *m, nn_value *out) { return model_value(m, out); }

/* A loss from its config: {"name": ..., options}. */
static int loss_from(const nn_value *config, nn_loss **out) {
    const nn_value *name;
    int status = config->type == NN_VALUE_DICT ? meta_get(config, "name", NN_VALUE_STRING, false, "compile_config loss:", &name)
                                               : meta_fail("compile_config:", "loss", "a loss config or a list of them");
    if (status) return status;
    *out = nn_loss_from_config(name->string, config);
    return *out ? NN_OK : NN_ERR_FORMAT;
}

/* Outputs after the first get their own saved loss and weight (compile gave them copies of
 * the first's). */
static int restore_output_losses(nn_model *m, const nn_value *compile, const nn_value *losses) {
    if (losses->type != NN_VALUE_LIST) return m->noutputs == 1 ? NN_OK : meta_fail("compile_config:", "loss", "one loss per output");
    if (losses->count != m->noutputs) return meta_fail("compile_config:", "loss", "a list of one loss per output");
    const nn_value *weights;
    int status = meta_get(compile, "loss_weights", NN_VALUE_LIST, true, "compile_config:", &weights);
    if (!status && weights && weights->count != m->noutputs) status = meta_fail("compile_config:", "loss_weights", "one weight per output");
    for (int o = 0; !status && o < m->noutputs; o++) {
        nn_loss *loss;
        const nn_value *w = weights ? &weights->items[o] : NULL;
        if (w && (w->type != NN_VALUE_NUMBER || !isfinite(w->number) || w->number < 0))
            return meta_fail("compile_config:", "loss_weights", "non-negative numbers");
        m->loss_weights[o] = w ? w->number : 1.0;
        if (o == 0) continue;
        status = loss_from(&losses->items[o], &loss);
        if (status) break;
        nn_loss_free(m->losses[o]);
        m->losses[o] = loss;
    }
    nn_model_drop_programs(m);
    return status ? status : nn_model_resolve_metrics(m);
}

static int compile_model(nn_model *m, const nn_value *meta) {
    const nn_value *compile, *opt_cfg, *loss_cfg, *metrics, *opt_name;
    int status = meta_get(meta, "compile_config", NN_VALUE_DICT, true, "", &compile);
    if (status || !compile) return status;
    status = meta_get(compile, "optimizer", NN_VALUE_DICT, false, "compile_config:", &opt_cfg);
    if (!status) status = meta_get(opt_cfg, "name", NN_VALUE_STRING, false, "compile_config optimizer:", &opt_name);
    loss_cfg = nn_value_get(compile, "loss");
    if (!status && !loss_cfg) status = meta_fail("compile_config:", "loss", "given");
    if (!status) status = meta_get(compile, "metrics", NN_VALUE_LIST, false, "compile_config:", &metrics);
    if (!status && metrics->count >= NN_MAX_METRICS)
        status = nn_error(NN_ERR_FORMAT, "metadata: compile_config lists %d metrics, at most %d", metrics->count, NN_MAX_METRICS - 1);
    const char *names[NN_MAX_METRICS] = { 0 };
    for (int i = 0; !status && i < metrics->count; i++) {
        if (metrics->items[i].type != NN_VALUE_STRING) status = meta_fail("compile_config:", "metrics", "a list of names");
        else names[i] = metrics->items[i].string;
    }
    if (status) return status;
    const nn_value *first_loss = loss_cfg->type == NN_VALUE_LIST && loss_cfg->count ? &loss_cfg->items[0] : loss_cfg;
    nn_loss *loss = NULL;
    status = loss_from(first_loss, &loss);
    if (status) return status;
    nn_optimizer *optimizer = nn_optimizer_from_config(opt_name->string, opt_cfg);
    if (!optimizer) {
        nn_loss_free(loss);
        return NN_ERR_FORMAT;
    }
    status = nn_compile(m, &(nn_compile_opts){ .optimizer_obj = optimizer, .loss_obj = loss, .metrics = names });
    if (!status) status = restore_output_losses(m, compile, loss_cfg);
    if (status) return status;
    uint64_t iterations = 0;
    status = meta_count(meta, "optimizer_iterations", "", &iterations);
    if (!status) m->optimizer->iterations = (int64_t)iterations;
    return status;
}

static bool any_optimizer_tensor(const tensor_entry *t, int count) {
    for (int i = 0; i < count; i++)
        if (strncmp(t[i].name, "optimizer/", 10) == 0) return true;
    return false;
}

static int restore_tensors(nn_model *m, const model_file *mf, tensor_entry *t, int count) {
    int status = NN_OK;
    for (int i = 0; i < m->nvars && !status; i++)
        status = restore_tensor(mf, t, count, m->vars[i].name, &m->vars[i], m->params + m->vars[i].offset);
    if (!status && m->compiled && any_optimizer_tensor(t, count)) {
        status = nn_model_prepare_training(m);
        int slots = nn_optimizer_slot_count(m->optimizer);
        for (int k = 0; k < slots && !status; k++)
            for (int i = 0; i < m->nvars && !status; i++) {
                if (!m->vars[i].trainable) continue;
                char name[TENSOR_NAME_SIZE];
                slot_tensor_name(name, k, m->vars[i].name);
                status = restore_tensor(mf, t, count, name, &m->vars[i], m->slots + (size_t)k * m->nparams + m->vars[i].offset);
            }
    }
    for (int i = 0; i < count && !status; i++)
        if (!t[i].used) status = nn_error(NN_ERR_FORMAT, "the file has a tensor '%s' that the model does not use", t[i].name);
    return status;
}

static int restore_rng(nn_model *m, const nn_value *meta) {
    const nn_value *words;
    int status = meta_get(meta, "rng_state", NN_VALUE_LIST, true, "", &words);
    if (status || !words) return status;
    nn_rng rng = { { 0 } };
    bool valid = words->count == (int)NN_ARRAY_LEN(rng.s);
    for (int i = 0; valid && i < words->count; i++) {
        const nn_value *w = &words->items[i];
        valid = w->type == NN_VALUE_STRING && strlen(w->string) == 16;
        for (const char *c = valid ? w->string : ""; valid && *c; c++) {
            int digit = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : -1;
            valid = digit >= 0;
            rng.s[i] = rng.s[i] << 4 | (uint64_t)(digit & 15);
        }
    }
    if (!valid || !(rng.s[0] | rng.s[1] | rng.s[2] | rng.s[3]))
        return meta_fail("", "rng_state", "four 16-digit lowercase hex words, not all zero");
    m->rng = rng;
    return NN_OK;
}

static int check_format_name(const nn_value *meta) {
    const nn_value *format;
    int status = meta_get(meta, "format", NN_VALUE_STRING, false, "", &format);
    if (!status && strcmp(format->string, "nn") != 0)
        status = nn_error(NN_ERR_FORMAT, "metadata: format is '%s', expected 'nn'", format->string);
    return status;
}

/* Parses what the bytes say; a cut file is reported as truncated, other damage to a file whose
 * checksum fails as corruption. */
static int read_metadata(const model_file *mf, nn_value *meta, tensor_entry **tensors, int *count) {
    uint32_t stored = (uint32_t)get_le(mf->bytes + mf->size - CRC_SIZE, CRC_SIZE);
    bool intact = crc32_update(0, mf->bytes, (size_t)mf->size - CRC_SIZE) == stored;
    const char *text = (const char *)mf->bytes + HEADER_SIZE;
    int status = nn_value_from_json(text, (size_t)mf->metadata_size, meta);
    if (!status && meta->type != NN_VALUE_DICT) status = nn_error(NN_ERR_FORMAT, "metadata: not a JSON object");
    if (!status) status = read_tensor_table(meta, tensors, count);
    if (!status) {
        status = check_extent(*tensors, *count, mf->data_size);
        if (status) return status;
    }
    if (!intact && status != NN_ERR_NOMEM) status = nn_error(NN_ERR_FORMAT, "checksum mismatch: the file is corrupted");
    if (!status) status = check_format_name(meta);
    return status;
}

static int load_from(const char *path, nn_model **out) {
    model_file mf = { 0 };
    nn_value meta = { NN_VALUE_NULL };
    tensor_entry *tensors = NULL;
    int count = 0;
    nn_model *m = NULL;
    int status = read_model_file(path, &mf);
    if (!status) status = read_metadata(&mf, &meta, &tensors, &count);
    if (!status) status = build_model(&meta, &m);
    if (!status) status = compile_model(m, &meta);
    if (!status) status = restore_tensors(m, &mf, tensors, count);
    if (!status) status = restore_rng(m, &meta);
    nn_free(tensors);
    nn_value_clear(&meta);
    nn_free(mf.bytes);
    if (status) nn_model_free(m);
    else *out = m;
    return status;
}

int nn_model_load(const char *path, nn_model **out) {
    if (out) *out = NULL;
    if (!path || !out) return nn_error(NN_ERR_ARG, "nn_model_load: %s is NULL", path ? "out" : "path");
    int status = load_from(path, out);
    return status ? nn_error_context(status, "%s", path) : NN_OK;
}
