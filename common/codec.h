/*
 * codec: JSON (jansson) <-> msgpack, canonical hashing, and the two replicated planes of an
 * object. Pure: no I/O, no global state; every function may be called from any thread.
 *
 * Exactness: integers stay integers end to end (int64 range; msgpack uint64 above INT64_MAX
 * is rejected because jansson cannot hold it), reals stay float64, JSON null stays msgpack
 * nil and an absent key stays absent. Strings must be valid UTF-8.
 *
 * Planes (DESIGN §4): the spec plane of an object is
 *   {"labels": metadata.labels, "annotations": metadata.annotations minus connector markers
 *    and kubectl.kubernetes.io/last-applied-configuration, <every top-level field except
 *    apiVersion, kind, metadata and status>}
 * under the key "fields" for the top-level fields; the status plane is status minus
 * status.nexus. Absent parts are absent in the plane, so an empty plane is {}.
 */
#ifndef NXC_CODEC_H
#define NXC_CODEC_H

#include <jansson.h>
#include <msgpack.h>
#include <stddef.h>

#define NXC_CODEC_HASH_LEN 32  /* SHA-256 */
#define NXC_CODEC_MAX_DEPTH 64 /* nesting deeper than this is rejected */
#define NXC_CODEC_ANNOTATION_PREFIX "connect.nexus.vmware.com/" /* connector markers */

enum nxc_codec_plane { NXC_PLANE_SPEC = 0, NXC_PLANE_STATUS = 1, NXC_PLANE_COUNT = 2 };

/* Packs v into pk. Keys keep jansson's iteration order unless canonical is non-zero, in
 * which case object keys are sorted bytewise (the form hashed). */
int nxc_codec_pack_json(msgpack_packer *pk, const json_t *v, int canonical);

/* Reads exactly one msgpack value from untrusted bytes into *out. Every declared length is
 * checked against the bytes that remain before anything is allocated, containers nested more
 * than max_depth deep are rejected, and bytes after the value are an error. Strings, bin and
 * ext in *out point into data; arrays and maps live in zone: both must outlive *out.
 * NXC_EINVALID when malformed, NXC_ENOMEM. (msgpack_unpack trusts declared sizes and stops at
 * 32 levels, so it is not used on untrusted input.) */
int nxc_codec_parse(const void *data, size_t len, unsigned max_depth, msgpack_zone *zone,
                    msgpack_object *out);

/* Converts a msgpack object to a new JSON value (*out is the caller's; json_decref it).
 * Map keys must be strings. NXC_EINVALID on anything that has no JSON form. */
int nxc_codec_unpack_json(const msgpack_object *o, json_t **out);

/* Canonical hash of v: SHA-256 over its canonical msgpack form. Equal JSON values hash the
 * same whatever their key order; 1 and 1.0 are different values. */
int nxc_codec_hash(const json_t *v, unsigned char out[NXC_CODEC_HASH_LEN]);

/* Extracts one plane of a Kubernetes object as a new JSON object (caller's). */
int nxc_codec_plane_get(const json_t *obj, enum nxc_codec_plane plane, json_t **out);

/* Writes a plane into obj (in place): for the spec plane, replaces labels, annotations (the
 * connector markers and last-applied annotation already on obj are kept) and every top-level
 * field except apiVersion, kind, metadata and status; for the status plane, replaces status
 * and keeps obj's own status.nexus. */
int nxc_codec_plane_put(json_t *obj, enum nxc_codec_plane plane, const json_t *content);

/* Hex form of a hash into out (2*NXC_CODEC_HASH_LEN+1 bytes). */
void nxc_codec_hash_hex(const unsigned char hash[NXC_CODEC_HASH_LEN], char *out);

#endif
