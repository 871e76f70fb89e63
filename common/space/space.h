/* SPDX-License-Identifier: MIT
 *
 * space.h - macro search spaces and the architectures inside them.
 *
 * A space has stages; stage s holds between min_layers and max_layers layers,
 * each one choice from the stage's choice list. Consecutive stages may be
 * grouped into one search *unit* (OFA-PN merges its stages 5 and 6); a unit
 * subgraph is one assignment of layer counts and choices to the unit's stages,
 * and it is what module scoring ranks and stage mutation swaps.
 *
 * Built in: "ofa_mbv3" and "ofa_pn" (METHOD.md section 1), and the Stable
 * Diffusion v1.4 inpainting U-Net spaces "sd_unet" and "sd_unet_hw"
 * (space_sdunet.c, common/space/sd_unet.md), whose units are coupled by channel
 * constraints (see "constraints that couple units" below). Any other space
 * comes from YAML (space_yaml.c; U-Net spaces from a `unet:` YAML block,
 * space_sdunet.c). Example:
 *
 *     struct ab_space *sp = NULL;
 *     struct ab_arch a;
 *     if (ab_space_open("ofa_mbv3", &sp)) { puts(ab_err_msg()); ... }
 *     ab_arch_parse_json(sp, "{\"space\":\"ofa_mbv3\",...}", &a);
 *     char *json = ab_arch_to_json(sp, &a);     // canonical form, malloc'd
 *     uint64_t h = ab_arch_hash(sp, &a);        // hash of the canonical form
 *     ab_space_destroy(&sp);
 *
 * A space is immutable after creation and may be shared between threads.
 */
#ifndef AB_SPACE_SPACE_H
#define AB_SPACE_SPACE_H

#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define AB_MAX_STAGES 16      /* stages per space */
#define AB_MAX_LAYERS 16      /* layers per stage */
#define AB_MAX_CHOICES 255    /* choices per stage (stored as uint8_t) */
#define AB_MAX_ATTRS 16       /* named choice attributes per space */
#define AB_MAX_FEATURES (4 + AB_MAX_ATTRS) /* node feature columns */

enum ab_space_kind {
    AB_SPACE_OFA_MBV3 = 1,
    AB_SPACE_OFA_PN = 2,
    AB_SPACE_YAML = 3,
    AB_SPACE_SD_UNET = 4,   /* sd_unet, sd_unet_hw, YAML `unet:` spaces */
};

/* The U-Net definition of an AB_SPACE_SD_UNET space (private to
 * space_sdunet.c). */
struct ab_unet;

/* A named attribute a YAML space attaches to its choices. Categorical values
 * are stored as the index into `values` (ordered as first seen); numeric ones
 * as the number itself. */
struct ab_attr_def {
    char *name;
    int numeric;        /* 1 numeric, 0 categorical */
    int n_values;       /* categorical: number of distinct values */
    char **values;      /* categorical: value labels, n_values of them */
};

struct ab_choice {
    char *name;         /* block string, e.g. "mbconv3_e4_k5" or "ir_3x3_t3" */
    double *attr;       /* n_attrs values: numeric value or categorical index */
    /* OFA only: expansion ratio and kernel size of this block. */
    int expand;
    int kernel;
};

struct ab_stage {
    int min_layers, max_layers;
    int n_choices;
    struct ab_choice *choices;
};

/* A search unit: stages [first, first + n_stages). */
struct ab_unit {
    int first;
    int n_stages;
};

/* One column of the node-feature matrix and how a predictor embeds it.
 * cardinality > 0: categorical with values 0..cardinality-1;
 * cardinality == 0: numeric. */
struct ab_feature {
    char name[32];
    int cardinality;
    int embed_dim;      /* FE-MLP embedding width for categorical features */
};

/* The subgraphs a reduced space allows in one unit: enumeration indices
 * (ab_space_unit_subgraph), sorted ascending, no repeats. */
struct ab_unit_set {
    uint64_t n;
    uint64_t *index;
};

struct ab_space {
    enum ab_space_kind kind;
    char *name;
    char *source;       /* "built-in" or the YAML file path */
    int n_stages;
    struct ab_stage stages[AB_MAX_STAGES];
    int n_units;
    struct ab_unit units[AB_MAX_STAGES];
    int n_attrs;
    struct ab_attr_def attrs[AB_MAX_ATTRS];
    /* Allowed input resolutions, ascending; n_resolutions == 0 means the
     * space has no resolution and architectures carry none. */
    int n_resolutions;
    int *resolutions;
    /* Resolutions `sample` draws from by default (a subset of the above). */
    int n_sample_resolutions;
    int *sample_resolutions;
    /* Node features (seqgraph.h): columns of the feature matrix. */
    int n_features;
    struct ab_feature features[AB_MAX_FEATURES];
    /* Reduced spaces (autobuild reduce): 1 when `allowed` restricts every
     * unit to a subset of its subgraphs. Architectures keep the base space's
     * name and JSON form; sampling and validation honour the subsets. */
    int reduced;
    struct ab_unit_set allowed[AB_MAX_STAGES];
    char *reduced_source;  /* the reduced-space file */
    /* The space's definition as text: {"builtin":"ofa_mbv3"} for built-ins,
     * the YAML source for YAML spaces. Stored in every file that holds
     * architectures of the space, so the file explains itself and
     * ab_space_from_definition() re-creates the space from it. */
    char *definition;
    /* AB_SPACE_SD_UNET only (NULL otherwise): levels, channel configurations
     * and the valid subgraphs of every stage. */
    struct ab_unet *unet;
};

/* An architecture. Layers beyond depth[s] are zero. */
struct ab_arch {
    int resolution;                           /* 0 when the space has none */
    uint8_t depth[AB_MAX_STAGES];             /* layers per stage */
    uint8_t choice[AB_MAX_STAGES][AB_MAX_LAYERS]; /* choice index per layer */
};

/* One unit subgraph: the unit's stages' depths and choices, indexed from the
 * unit's first stage. */
struct ab_subgraph {
    int unit;
    int n_stages;
    uint8_t depth[AB_MAX_STAGES];
    uint8_t choice[AB_MAX_STAGES][AB_MAX_LAYERS];
};

/* --- creation --------------------------------------------------------- */

/* Opens a space by name ("ofa_mbv3", "ofa_pn"), from a YAML file (a path
 * ending in .yaml/.yml or containing '/'), or from a reduced-space file
 * written by `autobuild reduce` (a path ending in .h5). On failure *out is
 * NULL and the error names the file, line and field. */
ab_status ab_space_open(const char *name_or_path, struct ab_space **out);

/* The built-in spaces. On failure (out of memory) *out is NULL. */
ab_status ab_space_create_builtin(const char *name, struct ab_space **out);

/* Parses a YAML space definition held in memory; `origin` names it in error
 * messages. Strict: unknown keys, duplicated keys, wrong types and
 * inconsistent bounds are errors with the line number. */
ab_status ab_space_from_yaml(const char *text, size_t len, const char *origin,
                             struct ab_space **out);

/* Re-creates a space from a definition stored in a file (see `definition`). */
ab_status ab_space_from_definition(const char *def, const char *origin,
                                   struct ab_space **out);

/* Frees the space and sets *sp to NULL. NULL-safe. */
void ab_space_destroy(struct ab_space **sp);

/* Finishes a space whose stages/attributes/resolutions are filled in:
 * checks bounds, sets default units and node features. Used by the
 * constructors; `definition` must already be set. */
ab_status ab_space_finalize(struct ab_space *sp);

/* --- sizes and subgraphs ---------------------------------------------- */

/* Number of subgraphs of unit u (in a reduced space: the allowed ones), or
 * UINT64_MAX when it does not fit. */
uint64_t ab_space_unit_count(const struct ab_space *sp, int u);

/* Number of subgraphs of unit u in the full space, whether reduced or not:
 * the range of enumeration indices. */
uint64_t ab_space_unit_count_full(const struct ab_space *sp, int u);

/* Reduced spaces (reduced.c): written by `autobuild reduce`, HDF5 format
 * hdf5-schemas/reduced-space.md. Load fails (AB_ERR_INPUT) for files of
 * other kinds or with indices outside the base space. Save is atomic. */
ab_status ab_reduced_space_load(const char *path, struct ab_space **out);
ab_status ab_reduced_space_save(const struct ab_space *sp, const char *path);

/* The exact number of architectures per resolution, as a decimal string
 * (malloc'd; NULL when out of memory). */
char *ab_space_size_string(const struct ab_space *sp);

/* log10 of the number of architectures per resolution. */
double ab_space_size_log10(const struct ab_space *sp);

/* The index-th subgraph of unit u (0 <= index < unit count): ordered by
 * total layer count, then by the layer counts of the unit's stages, then
 * lexicographically by choice indices. */
ab_status ab_space_unit_subgraph(const struct ab_space *sp, int u,
                                 uint64_t index, struct ab_subgraph *out);

/* The enumeration index of a subgraph (the inverse of
 * ab_space_unit_subgraph). The subgraph must be valid for its unit. */
uint64_t ab_space_unit_subgraph_index(const struct ab_space *sp, const struct ab_subgraph *g);

/* 1 when a reduced space allows subgraph index `index` in unit u (always 1
 * for spaces that are not reduced). */
int ab_space_unit_allows(const struct ab_space *sp, int u, uint64_t index);

/* The JSON text of a unit subgraph: [["block", ...], ...] over the unit's
 * stages. Returns the length the full text needs (like snprintf). */
size_t ab_subgraph_format_json(const struct ab_space *sp, const struct ab_subgraph *g, char *buf,
                               size_t cap);

/* Reads a file of architectures, one JSON object per line (blank lines
 * skipped); errors name the file and line. *out is malloc'd. */
ab_status ab_arch_read_jsonl(const struct ab_space *sp, const char *path, struct ab_arch **out,
                             long *n);

/* Unit u of an architecture as a subgraph. */
void ab_arch_get_unit(const struct ab_space *sp, const struct ab_arch *a,
                      int u, struct ab_subgraph *out);

/* Writes a subgraph into unit u of an architecture. */
void ab_arch_set_unit(const struct ab_space *sp, struct ab_arch *a,
                      const struct ab_subgraph *g);

/* --- architectures ---------------------------------------------------- */

/* Checks an architecture against the space; the error says which stage,
 * layer or field is wrong and what the space allows. */
ab_status ab_arch_validate(const struct ab_space *sp, const struct ab_arch *a);

/* Parses and validates the canonical JSON form (any whitespace and key
 * order are accepted; unknown keys are errors). */
ab_status ab_arch_parse_json(const struct ab_space *sp, const char *json,
                             struct ab_arch *out);

/* The canonical JSON form, e.g.
 * {"space":"ofa_mbv3","resolution":224,"stages":[["mbconv3_e4_k5",...],...]}
 * malloc'd; NULL when out of memory. */
char *ab_arch_to_json(const struct ab_space *sp, const struct ab_arch *a);

/* Appends the canonical form to buf (capacity cap, NUL-terminated). Returns
 * the length the full form needs (like snprintf). */
size_t ab_arch_format_json(const struct ab_space *sp, const struct ab_arch *a,
                           char *buf, size_t cap);

/* 64-bit FNV-1a hash of the canonical JSON form. */
uint64_t ab_arch_hash(const struct ab_space *sp, const struct ab_arch *a);

/* 1 when the two architectures are identical. */
int ab_arch_equal(const struct ab_arch *a, const struct ab_arch *b);

/* Total number of layers (graph nodes). */
int ab_arch_n_layers(const struct ab_space *sp, const struct ab_arch *a);

/* Looks a choice up by name in stage s; -1 when absent. */
int ab_space_find_choice(const struct ab_space *sp, int s, const char *name);

/* 1 when r is one of the space's resolutions. */
int ab_space_has_resolution(const struct ab_space *sp, int r);

/* --- sampling --------------------------------------------------------- */

struct ab_rng;

/* Draws a random architecture: each stage's layer count uniformly in
 * [min, max], each layer's choice uniformly, the resolution uniformly from
 * `resolutions` (n of them; NULL/0 = the space's sample resolutions). */
void ab_arch_sample(const struct ab_space *sp, struct ab_rng *rng,
                    const int *resolutions, int n, struct ab_arch *out);

/* Draws n distinct architectures (by canonical hash) with ab_arch_sample
 * from a generator seeded with `seed`, in draw order: the same seed gives
 * the same list on every machine (`autobuild data sample`). *out is
 * malloc'd. Fails (AB_ERR_INPUT) when the space holds fewer than n
 * architectures at the sampled resolutions, or when 1000 n + 100000 draws
 * found too few; *out is then NULL. */
ab_status ab_arch_sample_unique(const struct ab_space *sp, long n, uint64_t seed,
                                const int *res, int n_res, struct ab_arch **out);

/* --- constraints that couple units (sd_unet) --------------------------- */

/* In most spaces units are independent: every combination of unit subgraphs
 * is an architecture, and the functions below report no configurations and
 * no violations. In a U-Net space the units (one per stage) are coupled: the
 * space has configurations (one per global channel count and multiplier
 * vector), every unit subgraph carries its stage's channel count, and an
 * architecture is valid only when one configuration allows the subgraph of
 * every unit. Each valid architecture matches exactly one configuration, so
 * enumerating per configuration (ab_space_config_allows) visits every valid
 * architecture once and no invalid one. */

/* Number of configurations; 0 when units are independent. Can't fail. */
int ab_space_n_configs(const struct ab_space *sp);

/* 1 when configuration `config` allows subgraph `index` of unit u (always 1
 * in spaces without configurations), 0 otherwise. Does not look at reduced
 * subsets; combine with ab_space_unit_allows. */
int ab_space_config_allows(const struct ab_space *sp, int config, int u, uint64_t index);

/* The configuration an architecture matches, or -1 when it matches none or
 * is not a valid architecture of sp. 0 in spaces without configurations. */
int ab_arch_config(const struct ab_space *sp, const struct ab_arch *a);

/* Checks the rules that couple units, and for U-Net spaces the block
 * structure of every stage: AB_OK when the architecture satisfies them,
 * AB_ERR_INPUT with a message naming the stage and the rule otherwise.
 * Always AB_OK in spaces without such rules. ab_arch_validate calls it;
 * direct construction may call it to skip invalid combinations. */
ab_status ab_arch_check_constraints(const struct ab_space *sp, const struct ab_arch *a);

/* Architecture number `index` (0 <= index < the size) in a fixed order
 * that visits only valid architectures: the configurations in turn, then
 * mixed radix over the units (in a reduced space over the allowed
 * subgraphs), the last unit fastest. `resolution` is copied into the
 * architecture. Fails (AB_ERR_INPUT) when index is out of range. */
ab_status ab_space_arch_at(const struct ab_space *sp, uint64_t index, int resolution,
                           struct ab_arch *out);

/* A human-readable description of the coupled rules and of how the size is
 * counted (several lines, each ending in a newline; "" for spaces without
 * them). Returns the length the full text needs (like snprintf). */
size_t ab_space_describe_constraints(const struct ab_space *sp, char *buf, size_t cap);

/* Sequence-graph edges beyond the chain i -> i+1 (U-Net skip connections):
 * writes at most cap (src, dst) pairs of node indices within the
 * architecture's graph and returns how many there are (0 for chain
 * spaces). The architecture must be valid. */
int ab_arch_extra_edges(const struct ab_space *sp, const struct ab_arch *a, int *src,
                        int *dst, int cap);

/* A label for value v of categorical node feature f when the space names
 * its values (U-Net spaces: operation res/attn/down/up, channels "512",
 * section input/middle/output, stage "stage 3"): writes it to buf and
 * returns 1; returns 0 (buf untouched) when the space has no such label. */
int ab_space_feature_label(const struct ab_space *sp, int f, int v, char *buf, size_t cap);

/* --- internal: space_sdunet.c entry points used by space.c ---------------- */

ab_status ab_sdunet_create_builtin(const char *name, struct ab_space **out);
int ab_sdunet_yaml_claims(const char *text, size_t len);
ab_status ab_sdunet_from_yaml(const char *text, size_t len, const char *origin,
                              struct ab_space **out);
void ab_sdunet_free(struct ab_unet *u);
uint64_t ab_sdunet_count(const struct ab_space *sp);
uint64_t ab_sdunet_unit_count(const struct ab_space *sp, int u);
ab_status ab_sdunet_unit_subgraph(const struct ab_space *sp, int u, uint64_t index,
                                  struct ab_subgraph *out);
uint64_t ab_sdunet_unit_subgraph_index(const struct ab_space *sp, const struct ab_subgraph *g);
void ab_sdunet_sample(const struct ab_space *sp, struct ab_rng *rng, struct ab_arch *out);

#endif /* AB_SPACE_SPACE_H */
