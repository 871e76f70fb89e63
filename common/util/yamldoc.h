/* SPDX-License-Identifier: MIT
 *
 * yamldoc.h - a loaded YAML document (libyaml's document API) with typed,
 * path-named lookups for configuration files. Every error names the file,
 * the line and the key path, says what was expected, and is one line:
 *
 *     struct ab_yamldoc *d;
 *     AB_CALL(ab_yamldoc_load(text, len, "search.yaml", &d));
 *     yaml_node_t *s = ab_yamldoc_get(d, ab_yamldoc_root(d), "search");
 *     long init;
 *     AB_CALL(ab_yamldoc_int(d, s, "search", "init", 50, 1, 1000000, &init));
 *     ...
 *     ab_yamldoc_destroy(&d);
 *
 * Duplicate keys in a mapping are an error at load time.
 */
#ifndef AB_UTIL_YAMLDOC_H
#define AB_UTIL_YAMLDOC_H

#include <stddef.h>
#include <yaml.h>

#include "util/error.h"

struct ab_yamldoc {
    yaml_document_t doc;
    char *origin;   /* file name for messages */
};

/* Parses text; on a syntax error or a duplicate key fails with the file and
 * line, leaving *out NULL. */
ab_status ab_yamldoc_load(const char *text, size_t len, const char *origin,
                          struct ab_yamldoc **out);
void ab_yamldoc_destroy(struct ab_yamldoc **d);

/* The root node (NULL for an empty document). */
yaml_node_t *ab_yamldoc_root(struct ab_yamldoc *d);
/* The value of key in a mapping node, NULL when absent or when map is not a
 * mapping. */
yaml_node_t *ab_yamldoc_get(struct ab_yamldoc *d, yaml_node_t *map, const char *key);
/* 1-based line of a node (0 for NULL). */
int ab_yamldoc_line(const yaml_node_t *n);
/* The scalar text of a node, NULL when it is not a scalar. */
const char *ab_yamldoc_text(const yaml_node_t *n);
/* Number of items of a sequence node (0 otherwise) and item i. */
int ab_yamldoc_seq_len(const yaml_node_t *n);
yaml_node_t *ab_yamldoc_seq_item(struct ab_yamldoc *d, yaml_node_t *n, int i);

/* Fails unless node is a mapping whose keys are all in the NULL-terminated
 * list known; `path` names the mapping in the message. */
ab_status ab_yamldoc_check_keys(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                                const char *const *known);
/* Fails unless node is a mapping (or a sequence) named path. */
ab_status ab_yamldoc_expect_map(struct ab_yamldoc *d, yaml_node_t *n, const char *path);
ab_status ab_yamldoc_expect_seq(struct ab_yamldoc *d, yaml_node_t *n, const char *path);

/* Typed lookups of map[key]. When the key is absent: *out = def, unless
 * `required` variants are used. Range errors name path.key and the range. */
ab_status ab_yamldoc_int(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                         const char *key, long def, long lo, long hi, long *out);
ab_status ab_yamldoc_double(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                            const char *key, double def, double lo, double hi, double *out);
/* String value (points into the document; NULL and def when absent). */
ab_status ab_yamldoc_str(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                         const char *key, const char *def, const char **out);
ab_status ab_yamldoc_str_required(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                                  const char *key, const char **out);
/* Boolean: true/false/yes/no/on/off/1/0. */
ab_status ab_yamldoc_bool(struct ab_yamldoc *d, yaml_node_t *map, const char *path,
                          const char *key, int def, int *out);

/* A canonical JSON rendering of a node (mappings with keys in document
 * order, scalars as numbers when they parse as numbers, else strings).
 * Used to fingerprint configuration sections. Caller frees. NULL on OOM. */
char *ab_yamldoc_to_json(struct ab_yamldoc *d, yaml_node_t *n);

#endif /* AB_UTIL_YAMLDOC_H */
