/*
 * scope: what the applications asked to replicate, and the datamodel it is judged against.
 * Pure: no I/O, no threads (the loop owns the one instance).
 *
 * The datamodel is every CRD of the runtime (kind, plural, served version, scope) with its
 * `nexus` annotation's hierarchy when it has one. The intent is every ReplicationConfig:
 *   source.kind Object — a node by group/kind and display name, the ancestors' labels
 *     picking among nodes of the same display name; the sub-graph below it unless
 *     `hierarchical` is false, limited to `depth` levels when that is above 0;
 *   source.kind Type — every object of a type, filtered by namespace, label pairs and a
 *     label-selector string ("a=b,c!=d,e,!f,g in (x,y),h notin (z)").
 * A config names its peer with spec.remoteEndpointGvk.name (a NexusEndpoint whose name is a
 * peer runtime id) and its deletion policy with spec.deletionPolicy (Orphan | Delete).
 */
#ifndef NXC_SCOPE_H
#define NXC_SCOPE_H

#include <jansson.h>
#include <stddef.h>

#define SCOPE_NAME_MAX 254

typedef struct scope scope;

/* A type of the datamodel, from its CRD. */
typedef struct scope_type {
    char crd[SCOPE_NAME_MAX]; /* <plural>.<group>: the CRD's name, and the hierarchy label */
    char group[SCOPE_NAME_MAX];
    char version[64]; /* the storage version */
    char served[256]; /* the served versions, ",v1,v2," (for a config naming one) */
    char resource[SCOPE_NAME_MAX];
    char kind[128];
    int namespaced;
    int nexus_status; /* the schema has status.nexus.remoteGeneration */
    char **hierarchy; /* ancestor CRD names, root first (NULL when not a nexus node) */
    size_t nhierarchy;
} scope_type;

enum scope_source { SCOPE_OBJECT = 1, SCOPE_TYPE = 2 };
enum scope_policy { SCOPE_ORPHAN = 0, SCOPE_DELETE = 1 };

typedef struct scope_label {
    char *key;
    char **values; /* selector: "in"/"notin" lists; pairs: one value */
    size_t nvalues;
    enum { SEL_EQ, SEL_NE, SEL_EXISTS, SEL_ABSENT, SEL_IN, SEL_NOTIN } op;
} scope_label;

/* The group of the connector's own CRDs (ReplicationConfig, NexusEndpoint). */
#define SCOPE_OWN_GROUP "connect.nexus.vmware.com"

/* One ReplicationConfig as understood. */
typedef struct scope_config {
    char name[SCOPE_NAME_MAX];
    char peer[SCOPE_NAME_MAX]; /* spec.remoteEndpointGvk.name */
    long long generation;
    enum scope_source source;
    enum scope_policy policy;
    char group[SCOPE_NAME_MAX]; /* the node's or the type's group and kind */
    char kind[128];
    char version[64];          /* the version the config names ("" = any) */
    char node[SCOPE_NAME_MAX]; /* Object: the node's display name */
    int hierarchical;          /* Object: 1 = the sub-graph below the node too */
    long depth;                /* Object: levels below the node (0 = all) */
    char ns[SCOPE_NAME_MAX];   /* Type: namespace filter ("" = all) */
    scope_label *labels;       /* Object: ancestor labels; Type: label filters */
    size_t nlabels;
    char error[256]; /* not "" when the spec is not usable: why */
} scope_config;

scope *scope_new(void);
void scope_free(scope *s);

/* Learns or forgets a CRD (the object as the API server returns it). *changed (may be NULL)
 * is 1 when what the scope knows about it changed. */
int scope_set_crd(scope *s, const json_t *crd, int *changed);
void scope_del_crd(scope *s, const char *name, int *changed);
/* Learns a ReplicationConfig; an unusable spec is kept with its error set (and selects
 * nothing). *changed is 1 when its spec (generation or content) changed. */
int scope_set_config(scope *s, const json_t *rc, int *changed);
void scope_del_config(scope *s, const char *name, int *changed);

size_t scope_config_count(const scope *s);
const scope_config *scope_config_at(const scope *s, size_t i);
size_t scope_type_count(const scope *s);
const scope_type *scope_type_at(const scope *s, size_t i);
const scope_type *scope_type_by_crd(const scope *s, const char *crd);
const scope_type *scope_type_by_gk(const scope *s, const char *group, const char *kind);
const scope_type *scope_type_by_gr(const scope *s, const char *group, const char *resource);

/* 1 when config c selects the object (of type group/resource) with these labels. */
int scope_config_selects(const scope *s, const scope_config *c, const char *group,
                         const char *resource, const char *ns, const char *name,
                         const json_t *labels);
/* 1 when the CRD serves that version. */
int scope_type_serves(const scope_type *t, const char *version);
/* The CRD of the node's or the type's kind that config c names, if this runtime has it and
 * it serves the version c names (when c names one); NULL otherwise. */
const scope_type *scope_config_type(const scope *s, const scope_config *c);
/* 1 when the type may hold objects config c selects (the agent watches those types). */
int scope_config_covers_type(const scope *s, const scope_config *c, const scope_type *t);

#endif
