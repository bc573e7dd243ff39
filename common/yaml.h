/*
 * yaml: reads YAML (config files, kubeconfigs, CRDs) into jansson values, so the rest of the
 * code handles one tree type. Built on libyaml's event parser; the only file that includes
 * <yaml.h>.
 *
 * Typing follows the YAML 1.2 core schema for plain (unquoted) scalars: null, ~ and empty are
 * null; true/false (also True, TRUE, ...) are booleans; [-+]?[0-9]+, 0o[0-7]+ and
 * 0x[0-9a-fA-F]+ are integers (exact int64; out of range is an error, never a silent string);
 * decimal floats are reals (.inf and .nan are errors: JSON cannot hold them); anything else is
 * a string. Quoted and block (| >) scalars are always strings. The core tags !!str, !!int,
 * !!float, !!bool and !!null force a type; other tags are ignored.
 *
 * Not supported (NXC_EINVALID): aliases, mapping keys that are mappings or sequences, keys
 * containing NUL. Duplicate keys are NXC_EINVALID. Scalar keys that are not strings keep
 * their text ("1", "true"). Input over NXC_YAML_MAX_SIZE or nested deeper than
 * NXC_YAML_MAX_DEPTH is NXC_ELIMIT. Every error message carries "line L, column C" (1-based)
 * and, for the file loaders, the path.
 *
 * Ownership and threads: *out is the caller's (json_decref). Functions are reentrant.
 */
#ifndef NXC_YAML_H
#define NXC_YAML_H

#include <jansson.h>
#include <stddef.h>

#define NXC_YAML_MAX_SIZE (16u * 1024u * 1024u) /* bytes of input */
#define NXC_YAML_MAX_DEPTH 64                   /* nested mappings and sequences */

/* The first non-empty document of text (JSON null when there is none). */
int nxc_yaml_parse(const char *text, size_t len, json_t **out);
/* Every non-empty document of text, in order, as a JSON array (possibly empty). */
int nxc_yaml_parse_all(const char *text, size_t len, json_t **out);
/* As above, reading path. A missing file is NXC_ENOTFOUND, a read error NXC_ERROR. */
int nxc_yaml_load_file(const char *path, json_t **out);
int nxc_yaml_load_file_all(const char *path, json_t **out);

#endif

/*
 * This header shadows libyaml's <yaml.h> for every file built with -Icommon. yaml.c, the one
 * user of libyaml, defines NXC_YAML_LIBYAML and includes <yaml.h>, which lands here; this
 * forwards to the next <yaml.h> on the include path, libyaml's own.
 */
#if defined(NXC_YAML_LIBYAML) && !defined(NXC_YAML_LIBYAML_INCLUDED)
#define NXC_YAML_LIBYAML_INCLUDED
#include_next <yaml.h>
#endif
